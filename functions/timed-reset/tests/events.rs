//! The function with its sample events (AWS-shaped): the schedule runs the sweep; a TTL
//! deletion of a lease resets the conversation and a duplicate of it is a no-op; a user
//! deletion and other items are ignored; a Graph outage is reported as a batch item
//! failure; a malformed event is a non-retryable error. Storage is DynamoDB on moto (with
//! a counting client: the function stays within its declared table actions) and Graph is
//! the Messenger emulator over HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::Diagnostic;
use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_core::store::{DynamoStore, RequestCounter};
use routing_domain::{Clock, Conversation, FixedClock, Owner, OwnerRole};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::control::ControlService;
use routing_usecases::ports::{ConversationWrite, LeaseChange, Store};
use routing_usecases::records::Records;
use routing_usecases::timed_reset::TimedReset;
use serde_json::{json, Value};

const PAGE: &str = "111111111";
const INBOX: &str = "2002";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(name: &str) -> Value {
    let path = root().join("functions/timed-reset/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

struct Harness {
    store: DynamoStore,
    counter: RequestCounter,
    clock: Arc<FixedClock>,
    emulator: RunningEmulator,
    reset: TimedReset,
    window: i64,
}

async fn harness() -> Harness {
    let config =
        CoordinatorConfig::from_file(&root().join("config/local.json")).expect("local config");
    let window = config.page(PAGE).expect("page").reset_after();
    let emulator_doc = json!({
        "graph_version": "v23.0",
        "pages": [{"id": PAGE, "default_app_id": "1001", "apps": [
            {"id": "1001", "name": "bot", "app_secret": "a", "page_token": "local-bot-page-token", "take_control": true},
            {"id": INBOX, "name": "inbox", "app_secret": "b", "page_token": "local-inbox-page-token", "take_control": true}
        ]}]
    });
    let emulator = Emulator::start(
        EmulatorConfig::from_json_str(&emulator_doc.to_string()).expect("emulator config"),
        "127.0.0.1:0".parse().expect("address"),
    )
    .await
    .expect("emulator starts");
    let counter = RequestCounter::new();
    let client =
        DynamoStore::local_client(dynamo_local::server().endpoint(), Some(counter.clone()));
    let store = DynamoStore::new(client, dynamo_local::unique_table_name("timed-reset"));
    store.create_table().await.expect("table on moto");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let clock = Arc::new(FixedClock::at(now));
    let graph = GraphClient::new(emulator.base_url(), "v23.0", RetryPolicy::fast()).expect("graph");
    let control = ControlService::new(
        Records::new(Arc::new(config), Arc::new(store.clone()), clock.clone()),
        Arc::new(graph),
    );
    Harness {
        store,
        counter,
        clock,
        emulator,
        reset: TimedReset::new(control.records().clone(), control.graph().clone()),
        window,
    }
}

impl Harness {
    /// The inbox holds the thread at Meta and in the record, with a lease.
    async fn held_by_inbox(&self, psid: &str) {
        let response = reqwest::Client::new()
            .put(format!(
                "{}/_emulator/threads/{PAGE}/{psid}",
                self.emulator.base_url()
            ))
            .json(&json!({"owner_app_id": INBOX}))
            .send()
            .await
            .expect("emulator");
        assert!(response.status().is_success());
        let now = self.clock.now_millis();
        let mut state = Conversation::new(PAGE, psid, now);
        state.owner = Owner::app(INBOX, OwnerRole::Inbox);
        state.version = 1;
        state.last_customer_message_at = Some(now);
        state.renew_lease(now, self.window);
        self.store
            .write(ConversationWrite {
                expected_version: 0,
                lease: LeaseChange::between(None, state.control_expires_at),
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

    async fn record(&self, psid: &str) -> Conversation {
        self.store
            .conversation(PAGE, psid)
            .await
            .expect("read")
            .expect("record")
    }

    async fn true_owner(&self, psid: &str) -> Option<String> {
        let view: Value = reqwest::Client::new()
            .get(format!(
                "{}/_emulator/threads/{PAGE}/{psid}",
                self.emulator.base_url()
            ))
            .send()
            .await
            .expect("emulator")
            .json()
            .await
            .expect("JSON");
        view["owner_app_id"].as_str().map(str::to_string)
    }

    async fn invoke(&self, event: Value) -> Result<Value, routing_core::lambda::InvocationError> {
        timed_reset::handle(&self.reset, event, Instant::now() + Duration::from_secs(60)).await
    }

    /// Every operation the function performed is one it declares (and so one the
    /// template's policy allows).
    fn assert_declared_actions(&self) {
        for operation in self.counter.by_operation().keys() {
            assert!(
                timed_reset::TABLE_ACTIONS.contains(&operation.as_str()),
                "{operation} is not in TABLE_ACTIONS"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_deletion_resets_once_and_a_user_deletion_is_ignored() {
    let h = harness().await;
    h.held_by_inbox("7001").await;
    h.clock.advance_secs(h.window + 5);
    h.counter.reset();

    // A deletion made by a function (control returned): ignored, nothing read or written.
    let answer = h
        .invoke(sample("user-deletion.json"))
        .await
        .expect("handled");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(h.counter.total(), 0, "ignored without touching the table");
    assert_eq!(h.record("7001").await.owner.role, OwnerRole::Inbox);

    // TTL's deletion of the lease: the reset.
    let answer = h
        .invoke(sample("ttl-deletion.json"))
        .await
        .expect("handled");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let record = h.record("7001").await;
    assert_eq!(record.owner, Owner::idle());
    assert_eq!(record.control_expires_at, None);
    assert_eq!(h.true_owner("7001").await, None, "Meta released it");

    // The same record delivered again (Lambda retries, or the sweep got there first).
    let version = record.version;
    let answer = h
        .invoke(sample("ttl-deletion.json"))
        .await
        .expect("handled");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(h.record("7001").await.version, version, "a no-op");
    h.assert_declared_actions();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_resets_only_lease_expiries() {
    let h = harness().await;
    h.held_by_inbox("7001").await;
    h.clock.advance_secs(h.window + 5);
    h.counter.reset();
    let answer = h
        .invoke(sample("stream-batch.json"))
        .await
        .expect("handled");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(h.record("7001").await.owner, Owner::idle());
    assert!(
        h.store
            .conversation(PAGE, "7002")
            .await
            .expect("read")
            .is_none(),
        "a lease without a record creates nothing"
    );
    h.assert_declared_actions();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_outage_is_a_batch_item_failure_and_the_lease_stays_due() {
    let h = harness().await;
    h.held_by_inbox("7001").await;
    h.clock.advance_secs(h.window + 5);
    let response = reqwest::Client::new()
        .post(format!(
            "{}/_emulator/faults/graph-error",
            h.emulator.base_url()
        ))
        // One failed release per reset: a release that may have reached Meta is never
        // repeated inside the call.
        .json(&json!({"endpoint": "release_thread_control", "count": 1, "status": 503, "code": 2}))
        .send()
        .await
        .expect("emulator");
    assert!(response.status().is_success());
    let answer = h
        .invoke(sample("ttl-deletion.json"))
        .await
        .expect("handled");
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "400000000000001"}]}),
        "Lambda retries this record"
    );
    let record = h.record("7001").await;
    assert_eq!(record.owner.role, OwnerRole::Inbox);
    assert!(record.lease_expired(h.clock.now_millis()));

    // The retry (the fault is used up) resets it.
    let answer = h
        .invoke(sample("ttl-deletion.json"))
        .await
        .expect("handled");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(h.record("7001").await.owner, Owner::idle());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_runs_the_sweep() {
    let h = harness().await;
    h.held_by_inbox("7001").await;
    h.held_by_inbox("7003").await;
    h.clock.advance_secs(h.window + 5);
    h.counter.reset();
    let report = h.invoke(sample("schedule.json")).await.expect("sweep");
    assert_eq!(report["due_found"], 2, "{report}");
    assert_eq!(report["reset"], 2, "{report}");
    assert_eq!(h.true_owner("7001").await, None);
    assert_eq!(h.true_owner("7003").await, None);
    let report = h
        .invoke(sample("scheduled-event.json"))
        .await
        .expect("sweep");
    assert_eq!(report["due_found"], 0, "{report}");
    h.assert_declared_actions();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_stream_event_is_not_retryable() {
    let h = harness().await;
    let err = h
        .invoke(json!({"Records": "not a list"}))
        .await
        .expect_err("refused");
    let diagnostic: Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "NonRetryable.BadEvent");
    assert!(diagnostic.error_message.contains("Records"));
}

#[test]
fn sweep_metrics_are_embedded_metric_format() {
    let line = timed_reset::sweep_metrics("stack-timed-reset", 42, 1);
    assert_eq!(line["SweepLagSeconds"], 42);
    assert_eq!(line["Function"], "stack-timed-reset");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "MessengerRouting"
    );
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
        "SweepLagSeconds"
    );
}
