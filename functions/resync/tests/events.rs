//! The function with its sample events (AWS-shaped, for `cargo lambda invoke` against
//! `config/local.json`): the API Gateway request re-syncs one conversation and answers a
//! payload 2.0 response; the schedule runs the batch; anything else is a non-retryable
//! error. Storage is a MemoryStore, Graph is the Messenger emulator over HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lambda_runtime::Diagnostic;
use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_core::store::MemoryStore;
use routing_domain::{Clock, Conversation, FixedClock, Owner, OwnerRole};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::control::ControlService;
use routing_usecases::ports::{ConversationWrite, LeaseChange, Store};
use routing_usecases::records::Records;
use routing_usecases::resync::{Resync, ResyncLimits};
use serde_json::{json, Value};

/// The Page, apps and tokens of `config/local.json`, which the sample events use.
const PAGE: &str = "111111111";
const BOT: &str = "1001";
const INBOX: &str = "2002";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(name: &str) -> Value {
    let path = root().join("functions/resync/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

struct Harness {
    store: Arc<MemoryStore>,
    clock: Arc<FixedClock>,
    emulator: RunningEmulator,
    resync: Resync,
}

async fn harness() -> Harness {
    let config =
        CoordinatorConfig::from_file(&root().join("config/local.json")).expect("local config");
    let emulator_doc = json!({
        "graph_version": "v23.0",
        "pages": [{"id": PAGE, "default_app_id": BOT, "apps": [
            {"id": BOT, "name": "bot", "app_secret": "a", "page_token": "local-bot-page-token", "take_control": true},
            {"id": INBOX, "name": "inbox", "app_secret": "b", "page_token": "local-inbox-page-token", "take_control": true}
        ]}]
    });
    let emulator = Emulator::start(
        EmulatorConfig::from_json_str(&emulator_doc.to_string()).expect("emulator config"),
        "127.0.0.1:0".parse().expect("address"),
    )
    .await
    .expect("emulator starts");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let clock = Arc::new(FixedClock::at(now));
    let store = Arc::new(MemoryStore::new());
    let graph = GraphClient::new(emulator.base_url(), "v23.0", RetryPolicy::fast()).expect("graph");
    let control = ControlService::new(
        Records::new(Arc::new(config), store.clone(), clock.clone()),
        Arc::new(graph),
    );
    Harness {
        store,
        clock,
        emulator,
        resync: Resync::new(control.records().clone(), control.graph().clone()),
    }
}

fn limits() -> ResyncLimits {
    ResyncLimits {
        stop_at: Instant::now(),
        rate_per_second: 1000,
        lease_slice: 10,
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

impl Harness {
    /// Meta says `meta_owner`; the record says the bot holds it.
    async fn drifted(&self, psid: &str, meta_owner: Option<&str>, flagged: bool) {
        let response = reqwest::Client::new()
            .put(format!(
                "{}/_emulator/threads/{PAGE}/{psid}",
                self.emulator.base_url()
            ))
            .json(&json!({"owner_app_id": meta_owner}))
            .send()
            .await
            .expect("emulator");
        assert!(response.status().is_success());
        let now = self.clock.now_millis();
        let mut state = Conversation::new(PAGE, psid, now);
        state.owner = Owner::app(BOT, OwnerRole::Bot);
        state.version = 1;
        state.last_customer_message_at = Some(now);
        state.needs_resync = flagged;
        self.store
            .write(ConversationWrite {
                expected_version: 0,
                lease: LeaseChange::Unchanged,
                state,
                timeline: Vec::new(),
                applied_key: None,
                more_applied_keys: Vec::new(),
                timeline_expires_at: now / 1000 + 86_400,
                applied_keys_expire_at: 0,
            })
            .await
            .expect("seeded");
    }

    async fn call(&self, event: Value) -> Result<Value, Diagnostic> {
        resync::handle(&self.resync, limits(), event, deadline())
            .await
            .map_err(Diagnostic::from)
    }

    /// Status and JSON body of an HTTP answer (payload 2.0 response).
    async fn http(&self, event: Value) -> (i64, Value) {
        let answer = self
            .call(event)
            .await
            .expect("an HTTP answer, never an error");
        assert_eq!(
            answer["headers"]["content-type"], "application/json",
            "{answer}"
        );
        assert_eq!(answer["isBase64Encoded"], false);
        let body = answer["body"].as_str().expect("a text body");
        (
            answer["statusCode"].as_i64().expect("statusCode"),
            serde_json::from_str(body).expect("JSON body"),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_request_resyncs_the_conversation() {
    let h = harness().await;
    h.drifted("7001", Some(INBOX), false).await;
    let (status, body) = h.http(sample("resync-request.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["owner"], json!({"app_id": INBOX, "role": "inbox"}));
    assert!(body["control_expires_at"].is_string(), "{body}");
    assert_eq!(body["conversation"]["psid"], "7001");

    // The same, with a base64 body as API Gateway may send it: nothing left to correct.
    let mut encoded = sample("resync-request.json");
    encoded["body"] = json!(base64::engine::general_purpose::STANDARD.encode("{}"));
    encoded["isBase64Encoded"] = json!(true);
    let (status, body) = h.http(encoded).await;
    assert_eq!((status, &body["changed"]), (200, &json!(false)), "{body}");

    let mut anonymous = sample("resync-request.json");
    anonymous["headers"]
        .as_object_mut()
        .expect("headers")
        .remove("authorization");
    assert_eq!(h.http(anonymous).await.0, 401);
    // Behind the gateway's IAM or JWT authorization the token travels in `X-Api-Token`.
    let mut behind_iam = sample("resync-request.json");
    behind_iam["headers"]["authorization"] = json!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/eu-west-1/execute-api/aws4_request"
    );
    behind_iam["headers"]["x-api-token"] = json!("local-api-token-not-secret");
    assert_eq!(h.http(behind_iam.clone()).await.0, 200);
    behind_iam["headers"]["x-api-token"] = json!("someone-elses-token-123");
    assert_eq!(h.http(behind_iam).await.0, 403);
    let mut get = sample("resync-request.json");
    get["requestContext"]["http"]["method"] = json!("GET");
    assert_eq!(h.http(get).await.0, 405);
    // A function URL under `cargo lambda watch`: the path carries a prefix.
    let mut prefixed = sample("resync-request.json");
    prefixed["rawPath"] = json!("/lambda-url/resync/pages/111111111/conversations/7001/resync");
    assert_eq!(h.http(prefixed).await.0, 200);
    let mut elsewhere = sample("resync-request.json");
    elsewhere["rawPath"] = json!("/pages/111111111/conversations/7001/control");
    let (status, body) = h.http(elsewhere).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_route"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_runs_the_batch() {
    let h = harness().await;
    h.drifted("7002", None, true).await;
    h.drifted("7003", Some(INBOX), true).await;
    h.drifted("7004", Some(BOT), false).await;
    let report = h.call(sample("batch.json")).await.expect("batch report");
    assert_eq!(report["examined"], 2, "{report}");
    assert_eq!(report["changed"], 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["rate_limited"], false);
    let idle = h.store.conversation(PAGE, "7002").await.unwrap().unwrap();
    assert_eq!(idle.owner, Owner::idle());
    assert!(!idle.needs_resync);
    let inbox = h.store.conversation(PAGE, "7003").await.unwrap().unwrap();
    assert_eq!(inbox.owner, Owner::app(INBOX, OwnerRole::Inbox));
    // The batch starts no Graph call after its stopping time.
    let late = resync::handle(&h.resync, limits(), sample("batch.json"), Instant::now())
        .await
        .expect("report");
    assert_eq!(late["stopped_early"], true, "{late}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_not_retried() {
    let h = harness().await;
    for event in [
        json!({"source": "scheduler", "action": "sweep"}),
        json!({"Records": []}),
        json!({"requestContext": {"http": {}}, "rawPath": 5}),
    ] {
        let err = h.call(event.clone()).await.expect_err("refused");
        assert_eq!(err.error_type, "NonRetryable.BadEvent", "{event}");
    }
}
