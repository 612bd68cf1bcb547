//! Where the configuration comes from, through the one loading path: a file locally, a
//! Secrets Manager secret in AWS (here moto's Secrets Manager, over real HTTP).

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use routing_core::config_source::{ConfigSource, ConfigSourceError};
use routing_usecases::testing::{config_json, PAGE};

fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(routing_core::tls::sdk_http_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(dynamo_local::server().endpoint())
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A new secret on moto, named from `prefix`, holding `document`; returns its name.
async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    document: &str,
) -> String {
    let name = dynamo_local::unique_table_name(prefix);
    client
        .create_secret()
        .name(&name)
        .secret_string(document)
        .send()
        .await
        .expect("secret created on moto");
    name
}

/// Why loading the secret `name` is refused.
async fn refusal(client: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    ConfigSource::Secret(name.into())
        .load(client)
        .await
        .unwrap_err()
        .to_string()
}

#[test]
fn the_environment_names_exactly_one_source() {
    assert_eq!(
        ConfigSource::from_vars(Some("config/local.json".into()), None).unwrap(),
        ConfigSource::File("config/local.json".into())
    );
    assert_eq!(
        ConfigSource::from_vars(None, Some("arn:aws:secretsmanager:x".into())).unwrap(),
        ConfigSource::Secret("arn:aws:secretsmanager:x".into())
    );
    let both = ConfigSource::from_vars(Some("a".into()), Some("b".into())).unwrap_err();
    assert!(matches!(both, ConfigSourceError::BothSources));
    let none = ConfigSource::from_vars(None, None).unwrap_err().to_string();
    assert!(
        none.contains("COORDINATOR_CONFIG_SECRET_ID") && none.contains("COORDINATOR_CONFIG_FILE"),
        "{none}"
    );
}

#[tokio::test]
async fn a_secret_and_a_file_load_the_same_document() {
    let client = secrets_client();
    let document = config_json().to_string();
    let name = put_secret(&client, "config", &document).await;
    let from_secret = ConfigSource::Secret(name).load(&client).await.unwrap();

    let path = std::env::temp_dir().join(format!("routing-config-{}.json", std::process::id()));
    std::fs::write(&path, &document).unwrap();
    let from_file = ConfigSource::File(path).load(&client).await.unwrap();
    assert_eq!(
        format!("{:?}", from_secret.page(PAGE)),
        format!("{:?}", from_file.page(PAGE))
    );
    assert!(from_secret.page(PAGE).is_some());
    assert_eq!(from_secret.apps.len(), from_file.apps.len());
}

#[tokio::test]
async fn a_missing_empty_or_invalid_secret_is_refused_by_name() {
    let client = secrets_client();
    let missing = refusal(&client, "no-such-secret").await;
    assert!(missing.contains("secret no-such-secret"), "{missing}");

    // The template creates the secret with `{}` until the operator puts the document.
    let name = put_secret(&client, "empty", "{}").await;
    let empty = refusal(&client, &name).await;
    assert!(
        empty.contains(&name) && empty.contains("apps"),
        "names the secret and the field: {empty}"
    );

    let mut doc = config_json();
    doc["pages"][0]["inbox_app_id"] = serde_json::json!("7007");
    let name = put_secret(&client, "invalid", &doc.to_string()).await;
    let invalid = refusal(&client, &name).await;
    assert!(invalid.contains("pages[0].inbox_app_id"), "{invalid}");
    assert!(
        !invalid.contains("bot-page-token") && !invalid.contains("app-secret"),
        "no secret in the message: {invalid}"
    );
}
