//! Unclaimed hand-overs against both stores (MemoryStore, and DynamoStore on moto), with
//! the Graph API played by the emulator: the Page's `unclaimed_after_secs` passes without
//! an agent's answer, and the every-minute sweep (which reads the lease index, where the
//! lease item wakes it at the deadline) fires it exactly once.

use std::sync::Arc;

use routing_core::meta::graph::RetryPolicy;
use routing_domain::{events_between, DetailType, Owner, OwnerRole};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::control::{ControlRequest, MessageRequest};
use routing_usecases::ports::Store;
use routing_usecases::records::Records;
use routing_usecases::testing::{config_json, BOT, INBOX, PAGE};
use routing_usecases::timed_reset::{SweepLimits, SweepReport, TimedReset};
use serde_json::json;

use crate::support::{dynamo, emulator_config, memory, World};

/// The Page's unclaimed limit in these tests.
const UNCLAIMED_AFTER: i64 = 600;
/// The prefix of the moto tables' names.
const TABLES: &str = "unclaimed";

fn config(action: &str) -> Arc<CoordinatorConfig> {
    let mut doc = config_json();
    doc["pages"][0]["reset_after_secs"] = json!(3600);
    doc["pages"][0]["unclaimed_after_secs"] = json!(UNCLAIMED_AFTER);
    doc["pages"][0]["unclaimed_action"] = json!(action);
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid config"))
}

/// The Page closed today (UTC) and the days around it, open all day otherwise, with an
/// out-of-hours message.
fn closed_now_config(now_ms: i64) -> Arc<CoordinatorConfig> {
    let today = jiff::Timestamp::from_millisecond(now_ms)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let days = [today.yesterday().unwrap(), today, today.tomorrow().unwrap()];
    let all_day = json!(["00:00-24:00"]);
    let mut doc = config_json();
    doc["pages"][0]["unclaimed_after_secs"] = json!(UNCLAIMED_AFTER);
    doc["pages"][0]["messages"]["out_of_hours"] = json!(OUT_OF_HOURS);
    doc["pages"][0]["opening_hours"] = json!({
        "time_zone": "UTC",
        "weekly": {"mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                   "fri": all_day, "sat": all_day, "sun": all_day},
        "closed_dates": days.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    });
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid config"))
}

const OUT_OF_HOURS: &str = "We're closed; an agent answers when we open.";

async fn world(store: Arc<dyn Store>, action: &str) -> World {
    World::start_with(
        store,
        config(action),
        RetryPolicy::fast(),
        emulator_config(),
    )
    .await
}

async fn sweep(h: &World) -> SweepReport {
    let limits = SweepLimits {
        stop_at: std::time::Instant::now() + std::time::Duration::from_secs(120),
        concurrency: 4,
        page_size: 100,
    };
    h.reset.sweep(limits).await.expect("sweep runs")
}

/// The bot holds the thread, then passes it to the inbox through the API.
async fn hand_over(h: &World, psid: &str) {
    h.held_by(psid, BOT, OwnerRole::Bot).await;
    let pass: ControlRequest =
        serde_json::from_value(json!({"action": "pass", "as": "bot", "target": "inbox"})).unwrap();
    let passed = h.control.control(PAGE, psid, pass).await;
    assert!(passed.is_ok(), "{passed:?}");
    let record = h.record(psid).await;
    assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert_eq!(
        record.unclaimed_due_at,
        record
            .handed_to_humans_at
            .map(|at| at / 1000 + UNCLAIMED_AFTER),
        "the hand-over starts the timer"
    );
}

// ---- scenarios ------------------------------------------------------------------------

async fn an_unanswered_hand_over_is_notified_exactly_once(store: Arc<dyn Store>) {
    let h = world(store, "notify").await;
    let u = "8101";
    hand_over(&h, u).await;
    h.clock.advance_secs(UNCLAIMED_AFTER - 1);
    assert_eq!(sweep(&h).await.unclaimed, 0, "not due yet");

    h.clock.advance_secs(2);
    let before = h.record(u).await;
    let report = sweep(&h).await;
    assert_eq!((report.due_found, report.unclaimed), (1, 1), "{report:?}");
    assert_eq!(
        report.reset, 0,
        "the reset is not due: only the timer woke the sweep"
    );
    let after = h.record(u).await;
    assert_eq!(
        after.owner,
        Owner::app(INBOX, OwnerRole::Inbox),
        "it stays with humans"
    );
    assert!(after.unclaimed_at.is_some() && after.unclaimed_due_at.is_none());
    assert!(
        after.control_expires_at.is_some(),
        "the timed reset is still ahead"
    );
    let event = events_between(Some(&before), &after).expect("one event");
    assert_eq!(event.kind(), DetailType::Unclaimed);
    assert_eq!(event.version, after.version);

    // Exactly once: the lease now wakes at the reset, and a sweep finds nothing due.
    let again = sweep(&h).await;
    assert_eq!((again.due_found, again.unclaimed), (0, 0), "{again:?}");
    assert_eq!(h.record(u).await.version, after.version);
}

async fn an_agent_reply_cancels_it(store: Arc<dyn Store>) {
    let h = world(store, "notify").await;
    let u = "8102";
    hand_over(&h, u).await;
    h.clock.advance_secs(60);
    let reply: MessageRequest =
        serde_json::from_value(json!({"text": "Hi, how can I help?", "as": "inbox"})).unwrap();
    let sent = h.control.send_message(PAGE, u, reply).await;
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(h.record(u).await.unclaimed_due_at, None, "answered");

    h.clock.advance_secs(UNCLAIMED_AFTER);
    let report = sweep(&h).await;
    assert_eq!((report.due_found, report.unclaimed), (0, 0), "{report:?}");
    assert_eq!(h.record(u).await.unclaimed_at, None);
}

async fn an_agent_take_cancels_it(store: Arc<dyn Store>) {
    let h = world(store, "notify").await;
    let u = "8103";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    let pass: ControlRequest =
        serde_json::from_value(json!({"action": "pass", "as": "bot", "target": "inbox"})).unwrap();
    h.control.control(PAGE, u, pass).await.unwrap();
    h.clock.advance_secs(30);
    // Meta's inbox takes it: a human answered.
    let take: ControlRequest =
        serde_json::from_value(json!({"action": "take", "as": "inbox"})).unwrap();
    let _ = h.control.control(PAGE, u, take).await;
    h.control.mark_read(PAGE, u).await.unwrap();
    assert_eq!(h.record(u).await.unclaimed_due_at, None);
    h.clock.advance_secs(UNCLAIMED_AFTER);
    assert_eq!(sweep(&h).await.unclaimed, 0);
}

async fn return_to_bot_passes_it_back_after_the_event(store: Arc<dyn Store>) {
    let h = world(store, "return_to_bot").await;
    let u = "8104";
    hand_over(&h, u).await;
    h.clock.advance_secs(UNCLAIMED_AFTER + 1);
    let report = sweep(&h).await;
    assert_eq!(report.unclaimed, 1, "{report:?}");
    let after = h.record(u).await;
    assert_eq!(
        after.owner,
        Owner::app(BOT, OwnerRole::Bot),
        "back with the bot"
    );
    assert!(after.unclaimed_at.is_some());
    assert_eq!(after.pending_action, None, "the return was executed");
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT), "Meta agrees");
    let change = after.last_control_change.clone().expect("a change noted");
    assert_eq!(
        DetailType::of_change(change.from.role, change.to.role, change.cause),
        DetailType::ReturnedToBot
    );
    assert_eq!((after.control_expires_at, after.lease_wake()), (None, None));
    assert_eq!(sweep(&h).await.unclaimed, 0, "once");
}

async fn out_of_hours_the_customer_is_told_once_and_the_timer_waits(store: Arc<dyn Store>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let h = World::start_with(
        store,
        closed_now_config(now),
        RetryPolicy::fast(),
        emulator_config(),
    )
    .await;
    let u = "8105";
    hand_over_closed(&h, u).await;
    let record = h.record(u).await;
    assert_eq!(
        record.owner,
        Owner::app(INBOX, OwnerRole::Inbox),
        "still to the inbox"
    );
    let opening = jiff::Timestamp::from_millisecond(h.now())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap()
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second();
    assert_eq!(
        record.unclaimed_due_at,
        Some(opening + UNCLAIMED_AFTER),
        "open time only: the timer starts when the Page opens"
    );

    let report = sweep(&h).await;
    assert_eq!(
        (report.out_of_hours_sent, report.unclaimed),
        (1, 0),
        "{report:?}"
    );
    let sent = h
        .emulator_get(&format!("messages?page_id={PAGE}&psid={u}&app_id={INBOX}"))
        .await;
    let texts: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter(|t| *t == OUT_OF_HOURS)
        .collect();
    assert_eq!(texts.len(), 1, "{sent}");
    assert_eq!(h.record(u).await.out_of_hours_due, None);
    assert_eq!(sweep(&h).await.out_of_hours_sent, 0, "once per hand-over");
}

/// A notice that cannot be sent (the message was removed from the Page's settings, or this
/// container runs an older configuration without it) is taken off: the lease is not due
/// again for it, and the sweep's lag does not climb.
async fn an_out_of_hours_notice_that_cannot_be_sent_is_not_due_again(store: Arc<dyn Store>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let h = World::start_with(
        store,
        closed_now_config(now),
        RetryPolicy::fast(),
        emulator_config(),
    )
    .await;
    let u = "8106";
    hand_over_closed(&h, u).await;
    // The same Page without the message.
    let mut doc = serde_json::to_value(&*closed_now_config(now)).unwrap();
    doc["pages"][0]["messages"]["out_of_hours"] = serde_json::Value::Null;
    let without = Arc::new(CoordinatorConfig::from_json(&doc.to_string()).unwrap());
    let records = Records::new(without, h.store.clone(), h.clock.clone());
    let reset = TimedReset::new(records, h.control.graph().clone());
    let limits = || SweepLimits {
        stop_at: std::time::Instant::now() + std::time::Duration::from_secs(120),
        concurrency: 4,
        page_size: 100,
    };

    let report = reset.sweep(limits()).await.unwrap();
    assert_eq!(
        (report.due_found, report.out_of_hours_sent),
        (1, 0),
        "{report:?}"
    );
    let record = h.record(u).await;
    assert_eq!(record.out_of_hours_due, None, "cleared: it cannot be done");
    assert!(record
        .lease_wake()
        .is_some_and(|wake| wake > h.now() / 1000));
    h.clock.advance_secs(30);
    let again = reset.sweep(limits()).await.unwrap();
    assert_eq!((again.due_found, again.lag_secs), (0, None), "{again:?}");
}

/// `hand_over` on a Page whose opening hours are closed now.
async fn hand_over_closed(h: &World, psid: &str) {
    h.held_by(psid, BOT, OwnerRole::Bot).await;
    let pass: ControlRequest =
        serde_json::from_value(json!({"action": "pass", "as": "bot", "target": "inbox"})).unwrap();
    let passed = h.control.control(PAGE, psid, pass).await;
    assert!(passed.is_ok(), "{passed:?}");
    assert!(h.record(psid).await.out_of_hours_due.is_some());
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::memory()).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::dynamo(super::TABLES).await).await;
                }
            )*
        }
    };
}

scenarios!(
    an_unanswered_hand_over_is_notified_exactly_once,
    an_agent_reply_cancels_it,
    an_agent_take_cancels_it,
    return_to_bot_passes_it_back_after_the_event,
    out_of_hours_the_customer_is_told_once_and_the_timer_waits,
    an_out_of_hours_notice_that_cannot_be_sent_is_not_due_again,
);
