//! End to end for timed-reset: the real binaries (webhook-ingest, control-handoff and
//! timed-reset behind the Lambda Runtime API), moto and the emulator, with a Page window
//! of a few seconds. The tests wait for the deadline by polling the API's `lease_expired` (the
//! condition itself), then invoke the sweep the way EventBridge Scheduler does.

use std::path::PathBuf;
use std::time::Duration;

use local_stack::{local_config_path, Stack};
use routing_domain::OwnerRole;
use serde_json::{json, Value};

/// `config/local.json` with a window of `window_secs`, written to a file of its own.
fn short_window_config(name: &str, window_secs: u64) -> PathBuf {
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(local_config_path()).unwrap()).unwrap();
    config["pages"][0]["reset_after_secs"] = json!(window_secs);
    let path = std::env::temp_dir().join(format!("routing-e2e-{name}-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn sample(name: &str) -> Value {
    let path = dynamo_local::workspace_root()
        .join("functions/timed-reset/events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn stack(name: &str, window_secs: u64) -> Stack {
    Stack::start_hosted(&short_window_config(name, window_secs))
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)")
}

/// The conversation as the API shows it.
async fn view(s: &Stack, psid: &str) -> Value {
    let (status, body) = s
        .api(
            "GET",
            &format!("/pages/{}/conversations/{psid}", s.cast.page_id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Wait until the API reports the lease past its deadline (bounded: 30 s).
async fn until_expired(s: &Stack, psid: &str) {
    for _ in 0..300 {
        if view(s, psid).await["lease_expired"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the lease of {psid} never expired");
}

/// The customer asks for a human: the bot's trigger passes it to the inbox.
async fn handed_to_the_inbox(s: &Stack, psid: &str) {
    s.customer_says(psid, "hello").await.unwrap();
    s.settled_record(psid).await.unwrap();
    s.customer_taps(psid, "Talk to human", "TALK_TO_HUMAN")
        .await
        .unwrap();
    let record = s.settled_record(psid).await.unwrap();
    assert_eq!(record.owner.role, OwnerRole::Inbox);
    assert!(record.control_expires_at.is_some(), "a lease runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_window_one_sweep_gives_control_back_unless_renewed_in_time() {
    let s = stack("sweep", 2).await;
    let (stale, renewed) = ("9301", "9302");
    handed_to_the_inbox(&s, stale).await;
    handed_to_the_inbox(&s, renewed).await;
    until_expired(&s, stale).await;
    until_expired(&s, renewed).await;

    // The customer of the second conversation writes before the sweep runs: renewed.
    s.customer_says(renewed, "are you still there?")
        .await
        .unwrap();
    s.settled_record(renewed).await.unwrap();
    assert_eq!(view(&s, renewed).await["lease_expired"], false);

    let report = s
        .invoke("timed-reset", &sample("schedule.json"))
        .await
        .unwrap();
    assert_eq!(report["reset"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    let record = s.settled_record(stale).await.unwrap();
    assert_eq!(record.owner.role, OwnerRole::Idle, "released at Meta too");
    assert_eq!(record.control_expires_at, None);
    assert!(!record.unread);
    let entries = s.timeline(stale).await.unwrap();
    assert!(
        entries.iter().any(|e| e["type"] == "control"
            && e["cause"] == "timeout"
            && e["to"]["role"] == "idle"),
        "{entries:?}"
    );
    let listed = s.queue("inbox", false).await.unwrap();
    assert!(
        !listed.contains(&stale.to_string()),
        "left the inbox queue: {listed:?}"
    );
    assert!(listed.contains(&renewed.to_string()), "{listed:?}");

    // Back with the bot: the next message goes to the bot.
    s.customer_says(stale, "hi again").await.unwrap();
    assert_eq!(
        s.settled_record(stale).await.unwrap().owner.role,
        OwnerRole::Bot
    );
    // The renewed one is untouched, and Meta agrees.
    let record = s.settled_record(renewed).await.unwrap();
    assert_eq!(record.owner.role, OwnerRole::Inbox);

    // A TTL deletion arriving late through the stream (sample event, the stale key) is a
    // no-op; a second sweep finds nothing due.
    let mut late = sample("ttl-deletion.json");
    late["Records"][0]["dynamodb"]["Keys"]["pk"]["S"] =
        json!(format!("CONV#{}#{stale}", s.cast.page_id));
    let answer = s.invoke("timed-reset", &late).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(
        s.settled_record(stale).await.unwrap().owner.role,
        OwnerRole::Bot
    );
    let report = s
        .invoke("timed-reset", &sample("scheduled-event.json"))
        .await
        .unwrap();
    assert_eq!(report["reset"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_racing_the_reset_is_never_lost() {
    // A 4 s window: the agent's renewal (due at least 3 s after the reply) outlives the
    // reset's slow release (1.2 s), so the renewal is what the reset finds.
    let s = stack("race", 4).await;
    let u = "9303";
    handed_to_the_inbox(&s, u).await;
    until_expired(&s, u).await;

    // Meta answers the reset's release slowly; the agent replies while it is in flight.
    s.control(
        "faults/latency",
        json!({"endpoint": "release_thread_control", "latency_ms": 1200, "count": 1}),
    )
    .await
    .unwrap();
    // The sweep runs while the agent waits for its claim, then replies.
    let schedule = sample("schedule.json");
    let reply_during_the_reset = async {
        for _ in 0..300 {
            if s.record(u).await.unwrap().reset_claimed_at.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(s.record(u).await.unwrap().reset_claimed_at.is_some());
        let (status, body) = s
            .agent_message(
                u,
                json!({"text": "Still on it, one moment!", "as": "inbox"}),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "the agent's reply goes out: {body}");
    };
    let (report, ()) = tokio::join!(s.invoke("timed-reset", &schedule), reply_during_the_reset);
    let report = report.unwrap();
    assert_eq!(report["restored"], 1, "{report}");
    let record = s.settled_record(u).await.unwrap();
    assert_eq!(
        record.owner.role,
        OwnerRole::Inbox,
        "the agent keeps the conversation, at Meta too"
    );
    assert_eq!(view(&s, u).await["lease_expired"], false);
    let entries = s.timeline(u).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["type"] == "message" && e["author"] == "agent"),
        "the reply is in the timeline: {entries:?}"
    );
    assert!(
        entries.iter().any(|e| e["event"] == "timed_reset_undone"),
        "{entries:?}"
    );
}
