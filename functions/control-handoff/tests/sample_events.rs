//! The sample events (for `cargo lambda invoke`) parse as API Gateway payload 2.0, carry a
//! valid token for `config/local.json`, and reach the route they name.

use std::path::PathBuf;
use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_core::store::MemoryStore;
use routing_domain::SystemClock;
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::control::ControlService;
use routing_usecases::records::Records;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(name: &str) -> Value {
    let path = root().join("functions/control-handoff/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

/// The security headers every reply carries (the console's and the API's).
fn security_headers(response: &Response<Body>) -> Vec<(&'static str, String)> {
    [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "cache-control",
        "referrer-policy",
    ]
    .into_iter()
    .map(|name| {
        let value = response.headers().get(name).and_then(|v| v.to_str().ok());
        (name, value.unwrap_or_default().to_string())
    })
    .collect()
}

fn assert_security_headers(what: &str, response: &Response<Body>) {
    let headers = security_headers(response);
    let csp = &headers[0].1;
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    let rest: Vec<(&str, &str)> = headers[1..].iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(
        rest,
        [
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
        ],
        "{what}"
    );
}

#[tokio::test]
async fn the_console_and_every_api_reply_carry_the_security_headers() {
    let config = Arc::new(
        CoordinatorConfig::from_file(&root().join("config/local.json")).expect("local config"),
    );
    let graph = GraphClient::new("http://127.0.0.1:9", "v23.0", RetryPolicy::default());
    let service = ControlService::new(
        Records::new(config, Arc::new(MemoryStore::new()), Arc::new(SystemClock)),
        Arc::new(graph.expect("client")),
    );
    let mut console = sample("queue.json");
    console["rawPath"] = Value::from("/console");
    console["requestContext"]["http"]["path"] = Value::from("/console");
    console["rawQueryString"] = Value::from("");
    console
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    let mut anonymous = sample("queue.json");
    anonymous["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    for (what, event, status) in [
        ("console", console, 200),
        ("queue", sample("queue.json"), 200),
        ("a 404", sample("get-conversation.json"), 404),
        ("a 401", anonymous, 401),
    ] {
        let lambda: LambdaRequest = serde_json::from_value(event).expect("payload 2.0 event");
        let response = control_handoff::handle(&service, lambda.into()).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_security_headers(what, &response);
        if what == "console" {
            let csp = &security_headers(&response)[0].1;
            assert!(csp.contains("script-src 'sha256-"), "{csp}");
            assert!(csp.contains("connect-src 'self'"), "{csp}");
        }
    }
}

async fn call(service: &ControlService, event: Value) -> (u16, Value) {
    let lambda: LambdaRequest = serde_json::from_value(event).expect("payload 2.0 event");
    let request: Request = lambda.into();
    let response = control_handoff::handle(service, request).await;
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn sample_events_route_and_authenticate() {
    let config = Arc::new(
        CoordinatorConfig::from_file(&root().join("config/local.json")).expect("local config"),
    );
    // A Graph API where nothing listens: calls that need Meta fail as graph_unavailable.
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let graph = GraphClient::new("http://127.0.0.1:9", "v23.0", policy).expect("client");
    let service = ControlService::new(
        Records::new(config, Arc::new(MemoryStore::new()), Arc::new(SystemClock)),
        Arc::new(graph),
    );

    let expectations = [
        ("get-conversation.json", 404, Some("unknown_conversation")),
        ("queue.json", 200, None),
        ("timeline.json", 200, None),
        ("mark-read.json", 404, Some("unknown_conversation")),
        ("pass-to-inbox.json", 502, Some("graph_unavailable")),
        // Nothing stored: idle, which a release-reset already is (a no-op that says so).
        ("reset.json", 200, None),
        ("agent-message.json", 404, Some("unknown_conversation")),
    ];
    for (name, status, code) in expectations {
        let (got, body) = call(&service, sample(name)).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"]["code"].as_str(), code, "{name}: {body}");
    }

    let (_, reset) = call(&service, sample("reset.json")).await;
    assert_eq!(
        reset["unchanged"], "the conversation is already idle",
        "{reset}"
    );

    // `Idempotency-Key` reaches the control API.
    let mut keyed = sample("agent-message.json");
    keyed["headers"]["idempotency-key"] = Value::from("not a key");
    let (status, body) = call(&service, keyed.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_idempotency_key"))
    );
    // A key that is not visible ASCII is refused, never ignored (ignored, the same request
    // sent twice would be done twice).
    keyed["headers"]["idempotency-key"] = Value::from("clé-1");
    let (status, body) = call(&service, keyed.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_idempotency_key")),
        "{body}"
    );
    keyed["headers"]["idempotency-key"] = Value::from("ui-7001-1");
    let (status, body) = call(&service, keyed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_conversation"))
    );

    let mut anonymous = sample("queue.json");
    anonymous["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    assert_eq!(call(&service, anonymous).await.0, 401);
    let mut wrong = sample("queue.json");
    wrong["headers"]["authorization"] = Value::from("Bearer someone-elses-token-123");
    assert_eq!(call(&service, wrong).await.0, 403);

    // Behind the gateway's IAM or JWT authorization, `Authorization` carries the gateway's
    // credentials and the API token travels in `X-Api-Token`.
    let mut behind_iam = sample("queue.json");
    let token = behind_iam["headers"]["authorization"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    behind_iam["headers"]["authorization"] = Value::from(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/eu-west-1/execute-api/aws4_request",
    );
    behind_iam["headers"]["x-api-token"] = Value::from(token);
    assert_eq!(call(&service, behind_iam.clone()).await.0, 200);
    behind_iam["headers"]["x-api-token"] = Value::from("someone-elses-token-123");
    assert_eq!(call(&service, behind_iam).await.0, 403);
}
