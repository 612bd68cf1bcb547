//! End to end for the events: the real binaries (event-publisher among them), with
//! EventBridge on moto and a rule delivering every `messenger-routing` event to an SQS
//! queue the test reads. A hand-over, a return and a timed reset each produce exactly one
//! event, with the detail the schema promises and no message text.

use std::path::PathBuf;
use std::time::Duration;

use local_stack::{local_config_path, Stack};
use routing_domain::OwnerRole;
use serde_json::{json, Value};

/// `config/local.json` with a window of `window_secs`, written to a file of its own.
fn short_window_config(window_secs: u64) -> PathBuf {
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(local_config_path()).unwrap()).unwrap();
    config["pages"][0]["reset_after_secs"] = json!(window_secs);
    let path = std::env::temp_dir().join(format!("routing-e2e-events-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

async fn stack(config: PathBuf) -> Stack {
    Stack::start_hosted(&config)
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)")
}

/// The events about `psid` the subscriber received since the last call.
async fn events_of(s: &Stack, psid: &str) -> Vec<Value> {
    s.published_events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["detail"]["psid"] == psid)
        .collect()
}

/// The one event of a step: its detail-type and detail, checked against the schema's
/// promises (source, de-duplication key, no message text).
fn only(events: &[Value], step: &str) -> (String, Value) {
    assert_eq!(events.len(), 1, "{step}: exactly one event, got {events:?}");
    let event = &events[0];
    assert_eq!(event["source"], routing_domain::EVENT_SOURCE);
    let detail = event["detail"].clone();
    assert!(
        detail["version"].as_u64().is_some_and(|v| v > 0),
        "{detail}"
    );
    assert!(detail["time"].as_str().is_some(), "{detail}");
    let text = detail.to_string();
    for said in ["I need help", "Thanks, bye", "Hello"] {
        assert!(!text.contains(said), "{step}: message text in {detail}");
    }
    (event["detail-type"].as_str().unwrap().to_string(), detail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_over_a_return_and_a_timed_reset_are_one_event_each() {
    let s = stack(short_window_config(2)).await;
    let u = "9601";
    s.customer_says(u, "I need help").await.unwrap();
    s.settled_record(u).await.unwrap();
    events_of(&s, u).await; // the bot's first claim of the thread

    // Hand-over: the bot passes to the inbox through the API.
    let (status, body) = s
        .control_action(u, json!({"action": "pass", "as": "bot", "target": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    s.settled_record(u).await.unwrap();
    let (kind, detail) = only(&events_of(&s, u).await, "hand-over");
    assert_eq!(kind, "conversation.handed_to_humans");
    assert_eq!(detail["from"]["role"], "bot");
    assert_eq!(detail["to"]["role"], "inbox");
    assert_eq!(detail["to"]["app_id"], s.cast.inbox.id);
    // The API records its pass once Meta has answered; Meta's pass_thread_control webhook
    // about that same pass may be applied first (the API's write then finds the change
    // recorded). Either way it is one event: caused by the call, or by Meta's report of it.
    assert!(
        matches!(detail["cause"].as_str(), Some("api" | "webhook")),
        "{detail}"
    );
    assert_eq!(detail["page_id"], s.cast.page_id);
    let handed_version = detail["version"].as_u64().unwrap();

    // Return: the inbox passes it back to the bot.
    let (status, body) = s
        .control_action(u, json!({"action": "pass", "as": "inbox", "target": "bot"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let record = s.settled_record(u).await.unwrap();
    assert_eq!(record.owner.role, OwnerRole::Bot);
    let (kind, detail) = only(&events_of(&s, u).await, "return");
    assert_eq!(kind, "conversation.returned_to_bot");
    assert_eq!(
        (detail["from"]["role"].clone(), detail["to"]["role"].clone()),
        (json!("inbox"), json!("bot"))
    );
    assert!(detail["version"].as_u64().unwrap() > handed_version);

    // Timed reset: handed over again by the customer's payload, the window passes, the
    // sweep releases it.
    s.customer_taps(u, "Talk to human", "TALK_TO_HUMAN")
        .await
        .unwrap();
    let record = s.settled_record(u).await.unwrap();
    assert_eq!(record.owner.role, OwnerRole::Inbox);
    let (kind, detail) = only(&events_of(&s, u).await, "trigger hand-over");
    // As above: the trigger's own record of its pass, or Meta's webhook reporting it.
    assert_eq!(kind, "conversation.handed_to_humans");
    assert!(
        matches!(detail["cause"].as_str(), Some("trigger" | "webhook")),
        "{detail}"
    );
    let due = record.control_expires_at.expect("a lease runs");
    // Wait for the deadline itself (the lease's own condition), then sweep.
    for _ in 0..300 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if now >= due {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = s
        .invoke(
            "timed-reset",
            &json!({"source": "scheduler", "action": "sweep"}),
        )
        .await
        .unwrap();
    assert_eq!(report["reset"], 1, "{report}");
    s.settled_record(u).await.unwrap();
    let (kind, detail) = only(&events_of(&s, u).await, "timed reset");
    assert_eq!(kind, "conversation.reset_by_timeout");
    assert_eq!(detail["cause"], "timeout");
    assert_eq!(detail["from"]["role"], "inbox");

    // Nothing more: a further look at the stream publishes nothing new.
    assert!(events_of(&s, u).await.is_empty());
}
