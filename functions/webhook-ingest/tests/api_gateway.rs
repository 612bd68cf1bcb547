//! The handler, driven by real API Gateway HTTP API (payload 2.0) event JSON, including
//! base64 bodies and Meta's `\u00e4`-escaped text. Rejections are proven to write nothing
//! by counting the requests sent to a real DynamoDB API server (moto).

use routing_core::meta::webhook::MetaWebhooks;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use routing_core::meta::webhook::sign;
use routing_core::store::{DynamoStore, MemoryStore, RequestCounter};
use routing_domain::{FixedClock, Happening, OwnerRole};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::{Store, TimelineOrder};
use routing_usecases::records::Records;
use routing_usecases::testing::*;
use serde_json::{json, Value};

const T0: i64 = 1_795_000_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn request_from(event: Value) -> Request {
    let lambda: LambdaRequest = serde_json::from_value(event).expect("an API Gateway v2 event");
    lambda.into()
}

/// An HTTP API payload 2.0 event, as API Gateway sends it.
fn api_event(
    method: &str,
    raw_path: &str,
    body: Option<&[u8]>,
    headers: Value,
    query: &str,
    base64: bool,
) -> Value {
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} /webhook/{{app_id}}"),
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "173.252.127.1", "userAgent": "facebookexternalua"},
            "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "21/Nov/2026:12:00:00 +0000", "timeEpoch": T0
        },
        "isBase64Encoded": base64
    });
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(body) = body {
        event["body"] = if base64 {
            json!(base64::engine::general_purpose::STANDARD.encode(body))
        } else {
            json!(String::from_utf8_lossy(body))
        };
    }
    event
}

fn post_event(app: &str, body: &[u8], signature: Option<&str>) -> Value {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(signature) = signature {
        headers["x-hub-signature-256"] = json!(signature);
    }
    api_event(
        "POST",
        &format!("/webhook/{app}"),
        Some(body),
        headers,
        "",
        false,
    )
}

fn ingest_with(config: Arc<CoordinatorConfig>, store: Arc<dyn Store>) -> WebhookIngest {
    MetaWebhooks::ingest(Records::new(config, store, Arc::new(FixedClock::at(T0))))
}

async fn call(ingest: &WebhookIngest, event: Value) -> (u16, String) {
    let response: Response<Body> = webhook_ingest::handle(ingest, request_from(event)).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    (status, body)
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).expect("JSON error body");
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_sample_events_work_against_the_local_configuration() {
    let config = Arc::new(
        CoordinatorConfig::from_file(&root().join("config/local.json")).expect("local config"),
    );
    let store = Arc::new(MemoryStore::new());
    let ingest = ingest_with(config, store.clone());
    let sample = |name: &str| -> Value {
        let path = root().join("functions/webhook-ingest/events").join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event")).expect("JSON")
    };

    assert_eq!(
        call(&ingest, sample("verify.json")).await,
        (200, "1158201444".to_string())
    );
    assert_eq!(call(&ingest, sample("message.json")).await.0, 200);
    let (status, body) = call(&ingest, sample("message-base64.json")).await;
    assert_eq!(status, 200, "{body}");
    let conversation = store
        .conversation("111111111", "7001")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(conversation.owner.role, OwnerRole::Bot);
    assert!(
        conversation.pending_action.is_some(),
        "the keyword \"human\" asked for a handover"
    );
    let timeline = store
        .timeline("111111111", "7001", TimelineOrder::NewestFirst, 10, None)
        .await
        .unwrap();
    assert!(
        timeline.items.iter().any(|e| matches!(&e.record,
            Happening::Message { text: Some(t), .. } if t.starts_with("Grüße aus Köln"))),
        "the \\u00fc-escaped text is stored decoded"
    );
    assert_eq!(
        call(&ingest, sample("pass-thread-control.json")).await.0,
        200
    );
    assert_eq!(call(&ingest, sample("standby-batch.json")).await.0, 200);
    let conversation = store
        .conversation("111111111", "7001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.owner.role, OwnerRole::Inbox);
    assert!(conversation.unread);
    let (status, body) = call(&ingest, sample("bad-signature.json")).await;
    assert_eq!((status, error_code(&body).as_str()), (401, "bad_signature"));
}

#[tokio::test]
async fn base64_bodies_with_escaped_text_are_verified_over_the_exact_bytes() {
    let store = Arc::new(MemoryStore::new());
    let ingest = ingest_with(config(), store.clone());
    // Exactly as Meta sends it: non-ASCII escaped.
    let body = br#"{"object":"page","entry":[{"id":"111","time":1795000000000,"messaging":[{"sender":{"id":"42"},"recipient":{"id":"111"},"timestamp":1795000000000,"message":{"mid":"m-esc","text":"K\u00e4se"}}]}]}"#;
    let signature = sign(BOT_SECRET.as_bytes(), body);
    let headers = json!({"content-type": "application/json", "x-hub-signature-256": signature});
    let event = api_event(
        "POST",
        "/webhook/1001",
        Some(body),
        headers.clone(),
        "",
        true,
    );
    let (status, reply) = call(&ingest, event).await;
    assert_eq!(status, 200, "{reply}");
    let timeline = store
        .timeline(PAGE, "42", TimelineOrder::NewestFirst, 10, None)
        .await
        .unwrap();
    assert!(timeline.items.iter().any(|e| matches!(&e.record,
        Happening::Message { text: Some(t), .. } if t == "Käse")));

    // The same text re-serialised (raw UTF-8) does not match the signature of the original.
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    assert_ne!(reserialised.as_slice(), body.as_slice());
    let event = api_event(
        "POST",
        "/webhook/1001",
        Some(&reserialised),
        headers,
        "",
        true,
    );
    assert_eq!(call(&ingest, event).await.0, 401);
}

#[tokio::test]
async fn routes_after_a_stage_or_function_url_prefix() {
    let ingest = ingest_with(config(), Arc::new(MemoryStore::new()));
    let query =
        format!("hub.mode=subscribe&hub.verify_token={BOT_VERIFY}&hub.challenge=2071833921");
    for path in [
        "/webhook/1001",
        "/prod/webhook/1001",
        "/lambda-url/webhook-ingest/webhook/1001",
    ] {
        let event = api_event("GET", path, None, json!({}), &query, false);
        assert_eq!(
            call(&ingest, event).await,
            (200, "2071833921".to_string()),
            "{path}"
        );
    }
    let event = api_event("GET", "/hooks/1001", None, json!({}), &query, false);
    let (status, body) = call(&ingest, event).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "unknown_route"));
    let event = api_event("DELETE", "/webhook/1001", None, json!({}), "", false);
    assert_eq!(call(&ingest, event).await.0, 405);
}

#[tokio::test]
async fn handshake_refusals() {
    let ingest = ingest_with(config(), Arc::new(MemoryStore::new()));
    let get = |query: String| api_event("GET", "/webhook/1001", None, json!({}), &query, false);
    let (status, body) = call(
        &ingest,
        get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=abc".into()),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "bad_verify_token")
    );
    // The inbox app's token is not the bot app's.
    let (status, _) = call(
        &ingest,
        get(format!(
            "hub.mode=subscribe&hub.verify_token={INBOX_VERIFY}&hub.challenge=abc"
        )),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &ingest,
        get(format!(
            "hub.mode=unsubscribe&hub.verify_token={BOT_VERIFY}&hub.challenge=abc"
        )),
    )
    .await;
    assert_eq!((status, error_code(&body).as_str()), (403, "bad_hub_mode"));
    let (status, body) = call(
        &ingest,
        get(format!("hub.mode=subscribe&hub.verify_token={BOT_VERIFY}")),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "missing_hub_challenge")
    );
    let event = api_event(
        "GET",
        "/webhook/9999",
        None,
        json!({}),
        "hub.mode=subscribe&hub.verify_token=x&hub.challenge=abc",
        false,
    );
    let (status, body) = call(&ingest, event).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "unknown_app"));
}

/// Every reply's security headers (the same on the whole HTTP API).
fn assert_security_headers(response: &Response<Body>) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
}

#[tokio::test]
async fn the_handshake_echoes_only_a_challenge_of_digits_as_plain_text() {
    let ingest = ingest_with(config(), Arc::new(MemoryStore::new()));
    let get = |challenge: &str| {
        let query =
            format!("hub.mode=subscribe&hub.verify_token={BOT_VERIFY}&hub.challenge={challenge}");
        api_event("GET", "/webhook/1001", None, json!({}), &query, false)
    };
    let response = webhook_ingest::handle(&ingest, request_from(get("1158201444"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_security_headers(&response);
    // Anything else is not what Meta sends: refused, never echoed.
    for challenge in ["abc", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "12a", "-1"] {
        let response = webhook_ingest::handle(&ingest, request_from(get(challenge))).await;
        assert_eq!(response.status(), 400, "{challenge}");
        assert_security_headers(&response);
        let Body::Text(body) = response.body() else {
            panic!("a JSON error")
        };
        assert_eq!(error_code(body), "bad_hub_challenge", "{challenge}");
        assert!(!body.contains("script"), "not echoed: {body}");
    }
    // A delivery's answer carries them too.
    let post = post_event("1001", b"{}", None);
    let response = webhook_ingest::handle(&ingest, request_from(post)).await;
    assert_eq!(response.status(), 401);
    assert_security_headers(&response);
}

/// Every refusal answers its documented status and sends not a single request to DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_write_nothing_to_dynamodb() {
    let counter = RequestCounter::new();
    let client =
        DynamoStore::local_client(dynamo_local::server().endpoint(), Some(counter.clone()));
    let store = DynamoStore::new(client, dynamo_local::unique_table_name("ingest-http"));
    store.create_table().await.expect("table on moto");
    let store: Arc<dyn Store> = Arc::new(store);
    let ingest = ingest_with(config(), store.clone());

    let body = bytes(&envelope(
        "messaging",
        vec![message("55", T0, "m-55", "hello")],
    ));
    let good = sign(BOT_SECRET.as_bytes(), &body);
    let wrong_secret = sign(INBOX_SECRET.as_bytes(), &body);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "bad signature",
            post_event(BOT, &body, Some(&wrong_secret)),
            401,
            "bad_signature",
        ),
        (
            "malformed signature",
            post_event(BOT, &body, Some("sha1=abc")),
            401,
            "bad_signature",
        ),
        (
            "missing signature",
            post_event(BOT, &body, None),
            401,
            "bad_signature",
        ),
        (
            "unknown app id",
            post_event("9999", &body, Some(&good)),
            404,
            "unknown_app",
        ),
        (
            "garbage body, unsigned",
            post_event(BOT, b"\x00garbage{", None),
            401,
            "bad_signature",
        ),
        (
            "garbage body, wrong signature",
            post_event(BOT, b"garbage", Some(&good)),
            401,
            "bad_signature",
        ),
        (
            "wrong verify token",
            api_event(
                "GET",
                "/webhook/1001",
                None,
                json!({}),
                "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
                false,
            ),
            403,
            "bad_verify_token",
        ),
    ];
    counter.reset();
    for (name, event, status, code) in cases {
        let (got_status, got_body) = call(&ingest, event).await;
        assert_eq!(
            (got_status, error_code(&got_body).as_str()),
            (status, code),
            "{name}"
        );
        assert_eq!(counter.total(), 0, "{name}: no DynamoDB request at all");
    }
    assert!(store.conversation(PAGE, "55").await.unwrap().is_none());

    // A validly signed body that cannot be parsed: 200 (so Meta does not retry it for an
    // hour), kept in quarantine, and nothing else written.
    let garbage = b"{\"object\":\"page\",\"entry\":[{\"messaging\":[".to_vec();
    counter.reset();
    let (status, reply) = call(
        &ingest,
        post_event(BOT, &garbage, Some(&sign(BOT_SECRET.as_bytes(), &garbage))),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(counter.by_operation().get("PutItem"), Some(&1));
    assert_eq!(
        counter.total(),
        1,
        "only the quarantine item: {:?}",
        counter.by_operation()
    );
    let kept = store.quarantined(BOT).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body, garbage);
    assert!(kept[0].reason.contains("not JSON"), "{}", kept[0].reason);

    // And a valid delivery is applied.
    let (status, _) = call(&ingest, post_event(BOT, &body, Some(&good))).await;
    assert_eq!(status, 200);
    assert!(store.conversation(PAGE, "55").await.unwrap().is_some());
}

#[tokio::test]
async fn a_store_failure_is_a_500_so_meta_retries() {
    // A DynamoDB endpoint where nothing listens: the write cannot become durable.
    let client = DynamoStore::local_client("http://127.0.0.1:9", None);
    let ingest = ingest_with(config(), Arc::new(DynamoStore::new(client, "nowhere")));
    let body = bytes(&envelope(
        "messaging",
        vec![message("56", T0, "m-56", "hello")],
    ));
    let (status, reply) = call(
        &ingest,
        post_event(BOT, &body, Some(&sign(BOT_SECRET.as_bytes(), &body))),
    )
    .await;
    assert_eq!(
        (status, error_code(&reply).as_str()),
        (500, "internal_error")
    );
}

#[tokio::test]
async fn events_for_unconfigured_pages_are_counted_not_kept_and_answered_200() {
    let store = Arc::new(MemoryStore::new());
    let ingest = ingest_with(config(), store.clone());
    let body = bytes(
        &json!({"object":"page","entry":[{"id":"999","time":T0,"messaging":[
        {"sender":{"id":"57"},"recipient":{"id":"999"},"timestamp":T0,"message":{"mid":"m-57","text":"x"}}]}]}),
    );
    let (status, reply) = call(
        &ingest,
        post_event(BOT, &body, Some(&sign(BOT_SECRET.as_bytes(), &body))),
    )
    .await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(report["unknown_pages"], 1);
    // Counted and logged by Page id; the customers' text is not kept.
    assert_eq!(report["quarantined"], false);
    assert!(store.conversation("999", "57").await.unwrap().is_none());
    assert!(store.quarantined(BOT).await.unwrap().is_empty());
}
