//! The timed reset against both stores (MemoryStore, and DynamoStore on moto) with the
//! Graph API played by the Messenger Platform emulator over real HTTP. The coordinator's
//! clock is a `FixedClock`, so deadlines pass without waiting; Meta's (the emulator's)
//! clock runs on its own, so at Meta the owner still holds the thread when the reset runs.

use std::sync::Arc;

use routing_core::store::RequestCounter;
use routing_domain::{Cause, Conversation, Owner, OwnerRole, PAGE_INBOX_APP_ID};
use routing_usecases::control::MessageRequest;
use routing_usecases::outages::MAX_OUTAGES_IN_A_ROW;
use routing_usecases::ports::{LeaseChange, Store};
use routing_usecases::testing::{BOT, INBOX, PAGE};
use routing_usecases::timed_reset::{ResetOutcome, SkipReason, SweepLimits, SweepReport};
use serde_json::json;

use crate::support::{batch_put, dynamo, dynamo_store, memory, World};

/// The Page's window in these tests.
const WINDOW: i64 = 3600;
/// The prefix of the moto tables' names.
const TABLES: &str = "reset";

async fn harness_with(store: Arc<dyn Store>, reset_action: &str) -> World {
    World::start(store, WINDOW, Some(reset_action)).await
}

fn limits() -> SweepLimits {
    SweepLimits {
        stop_at: std::time::Instant::now() + std::time::Duration::from_secs(120),
        concurrency: 4,
        page_size: 100,
    }
}

impl World {
    /// Start the reset of `psid` with Meta slow (1.5 s) to answer its release, and return
    /// once the reset holds its claim: what happens next races the release in flight.
    async fn reset_with_slow_release(
        &self,
        psid: &str,
    ) -> tokio::task::JoinHandle<Result<ResetOutcome, routing_usecases::timed_reset::ResetError>>
    {
        self.emulator_post(
            "faults/latency",
            json!({"endpoint": "release_thread_control", "latency_ms": 1500, "count": 1}),
        )
        .await;
        let reset = self.reset.clone();
        let target = psid.to_string();
        let running = tokio::spawn(async move { reset.reset(PAGE, &target).await });
        while self.record(psid).await.reset_claimed_at.is_none() {
            tokio::task::yield_now().await;
        }
        running
    }

    async fn sweep(&self) -> SweepReport {
        self.reset.sweep(limits()).await.expect("sweep runs")
    }
}

// ---- scenarios ------------------------------------------------------------------------

async fn a_due_lease_is_reset_once_through_the_graph_api(h: World) {
    let u = "7101";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    assert_eq!(h.sweep().await.due_found, 0, "nothing is due yet");
    h.clock.advance_secs(WINDOW + 1);

    let report = h.sweep().await;
    assert_eq!((report.due_found, report.reset), (1, 1), "{report:?}");
    assert!(report.lag_secs.is_some_and(|lag| lag >= 1));
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::idle());
    assert_eq!(record.control_expires_at, None, "the lease is gone");
    assert!(!record.unread, "a reset conversation is read");
    assert_eq!(record.reset_claimed_at, None);
    assert_eq!(h.true_owner(u).await, None, "Meta released it");
    let entries = h.control_entries(u).await;
    assert_eq!(
        entries.last().map(|e| (e.1.clone(), e.2, e.3.as_str())),
        Some((Owner::idle(), Cause::Timeout, "release_thread_control"))
    );

    // Once: the next sweep finds nothing, a duplicate (the stream path) is a no-op.
    assert_eq!(h.sweep().await.due_found, 0);
    assert_eq!(
        h.reset.reset(PAGE, u).await.unwrap(),
        ResetOutcome::Skipped {
            reason: SkipReason::NoLease
        }
    );
    assert_eq!(h.control_entries(u).await.len(), entries.len());
}

async fn the_pass_to_bot_reset_action_gives_it_to_the_bot(store: Arc<dyn Store>) {
    let h = harness_with(store, "pass_to_bot").await;
    let u = "7102";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    assert_eq!(h.sweep().await.reset, 1);
    assert_eq!(h.record(u).await.owner, Owner::app(BOT, OwnerRole::Bot));
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT));
    assert_eq!(h.record(u).await.control_expires_at, None);
}

async fn a_renewed_lease_is_not_reset(h: World) {
    let u = "7103";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW - 10);
    // The customer writes 10 s before the deadline: the window starts again.
    let record = h.record(u).await;
    let mut renewed = record.clone();
    renewed.version += 1;
    renewed.last_customer_message_at = Some(h.now());
    renewed.renew_lease(h.now(), WINDOW);
    let lease = LeaseChange::between(record.control_expires_at, renewed.control_expires_at);
    h.write(record.version, lease, renewed, Vec::new()).await;
    h.clock.advance_secs(20);
    let report = h.sweep().await;
    assert_eq!(report.due_found, 0, "{report:?}");
    assert_eq!(
        h.reset.reset(PAGE, u).await.unwrap(),
        ResetOutcome::Skipped {
            reason: SkipReason::NotDue
        }
    );
    assert_eq!(h.record(u).await.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert_eq!(h.true_owner(u).await.as_deref(), Some(INBOX));
}

async fn an_agent_reply_during_the_reset_wins(h: World) {
    let u = "7104";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    // Meta is slow to answer the release: the agent replies while it is in flight.
    let running = h.reset_with_slow_release(u).await;
    let request: MessageRequest =
        serde_json::from_value(json!({"text": "Still here, checking!", "as": "inbox"})).unwrap();
    let sent = h.control.send_message(PAGE, u, request).await;
    assert!(sent.is_ok(), "the agent's reply is accepted: {sent:?}");

    let outcome = running.await.unwrap().unwrap();
    assert_eq!(
        outcome,
        ResetOutcome::Restored {
            owner: Owner::app(INBOX, OwnerRole::Inbox)
        }
    );
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(
        !record.lease_expired(h.now()),
        "the agent's reply renewed it"
    );
    assert_eq!(record.reset_claimed_at, None);
    assert!(!record.needs_resync, "control was given back at Meta");
    assert_eq!(
        h.true_owner(u).await.as_deref(),
        Some(INBOX),
        "Meta agrees: the agent holds it"
    );
    let entries = h.control_entries(u).await;
    assert!(
        entries
            .iter()
            .any(|e| e.2 == Cause::Timeout && e.3 == "timed_reset_undone"),
        "{entries:?}"
    );
}

async fn meta_inbox_threads_are_left_to_meta_and_queued_for_resync(h: World) {
    let u = "7105";
    let seeded = h.held_by(u, PAGE_INBOX_APP_ID, OwnerRole::PageInbox).await;
    h.clock.advance_secs(WINDOW + 1);
    // The Page's window (1 h) is shorter than Meta's idle rule (24 h without activity):
    // Meta's inbox still has it, so the lease moves to Meta's deadline.
    let report = h.sweep().await;
    assert_eq!(report.waits_for_meta, 1, "{report:?}");
    let record = h.record(u).await;
    assert_eq!(record.owner.role, OwnerRole::PageInbox);
    let meta_deadline = seeded.last_activity_at / 1000 + 24 * 3600;
    assert_eq!(record.control_expires_at, Some(meta_deadline));
    assert_eq!(
        h.sweep().await.due_found,
        0,
        "not due before Meta's deadline"
    );

    h.clock.advance_secs(24 * 3600);
    let report = h.sweep().await;
    assert_eq!(report.left_to_meta, 1, "{report:?}");
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::idle());
    assert!(record.needs_resync, "a re-sync confirms what Meta did");
    assert_eq!(record.control_expires_at, None);
    assert!(!record.unread);
    assert_eq!(
        h.flagged().await,
        vec![u.to_string()],
        "queued for re-sync through the index"
    );
    assert_eq!(
        h.true_owner(u).await.as_deref(),
        Some(PAGE_INBOX_APP_ID),
        "no Graph call: we hold no token of Meta's inbox"
    );
}

async fn a_permanent_refusal_is_flagged_and_not_retried(h: World) {
    let u = "7106";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    // Meta says otherwise: the bot holds it (a lost webhook).
    h.set_true_owner(u, Some(BOT)).await;
    h.clock.advance_secs(WINDOW + 1);
    let report = h.sweep().await;
    assert_eq!(report.flagged, 1, "{report:?}");
    let record = h.record(u).await;
    assert!(record.needs_resync);
    assert_eq!(record.control_expires_at, None, "out of the sweep");
    assert_eq!(record.reset_claimed_at, None);
    assert_eq!(h.sweep().await.due_found, 0, "not retried forever");
}

async fn a_graph_outage_leaves_the_lease_due_for_the_next_sweep(h: World) {
    let u = "7107";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    h.emulator_post(
        "faults/graph-error",
        // One failed release per reset: a release that may have reached Meta is never
        // repeated inside the call.
        json!({"endpoint": "release_thread_control", "count": 1, "status": 500, "code": 2}),
    )
    .await;
    let report = h.sweep().await;
    assert_eq!((report.due_found, report.failed), (1, 1), "{report:?}");
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(record.lease_expired(h.now()), "still due");
    assert_eq!(record.reset_claimed_at, None, "the claim is released");
    assert!(!record.needs_resync);

    let report = h.sweep().await;
    assert_eq!(report.reset, 1, "{report:?}");
    assert_eq!(h.true_owner(u).await, None);
}

/// A long outage: the sweep stops after a few resets in a row fail (each costs a claim and
/// its release) instead of trying every due lease; all stay due, none stays claimed, and
/// the next sweep after the outage resets them all.
async fn a_long_graph_outage_stops_the_sweep(h: World) {
    let psids: Vec<String> = (0..10).map(|i| format!("75{i:02}")).collect();
    for psid in &psids {
        h.held_by(psid, INBOX, OwnerRole::Inbox).await;
    }
    h.clock.advance_secs(WINDOW + 1);
    h.emulator_post(
        "faults/graph-error",
        json!({"endpoint": "release_thread_control", "count": 1000, "status": 500, "code": 2}),
    )
    .await;
    let report = h.sweep().await;
    assert!(
        report.graph_unavailable && report.stopped_early,
        "{report:?}"
    );
    assert_eq!(report.reset, 0, "{report:?}");
    // Resets already in flight when the third failed still finish.
    let most = u64::from(MAX_OUTAGES_IN_A_ROW) + limits().concurrency as u64 - 1;
    assert!(
        (u64::from(MAX_OUTAGES_IN_A_ROW)..=most).contains(&report.failed),
        "stopped after {MAX_OUTAGES_IN_A_ROW} outages in a row, not after all 10: {report:?}"
    );
    for psid in &psids {
        let record = h.record(psid).await;
        assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox), "{psid}");
        assert!(record.lease_expired(h.now()), "{psid}: still due");
        assert_eq!(record.reset_claimed_at, None, "{psid}: not left claimed");
    }

    h.emulator_post("faults/reset", json!({})).await;
    let report = h.sweep().await;
    assert_eq!(report.reset, 10, "{report:?}");
    assert!(!report.graph_unavailable, "{report:?}");
}

async fn the_sweep_and_the_stream_path_reset_once(h: World) {
    let u = "7108";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    let (a, b) = tokio::join!(h.reset.reset(PAGE, u), h.reset.reset(PAGE, u));
    let mut outcomes = vec![a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, ResetOutcome::Skipped { .. }));
    assert!(
        matches!(outcomes[0], ResetOutcome::Reset { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(
            outcomes[1],
            ResetOutcome::Skipped {
                reason: SkipReason::ClaimedElsewhere | SkipReason::NoLease
            }
        ),
        "the second is a no-op, never a second Graph call: {outcomes:?}"
    );
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::idle());
    assert!(!record.needs_resync, "no refusal from Meta: acted once");
    let timeouts = h
        .control_entries(u)
        .await
        .into_iter()
        .filter(|e| e.2 == Cause::Timeout)
        .count();
    assert_eq!(timeouts, 1);
}

async fn conversations_with_the_bot_or_idle_have_no_lease(h: World) {
    let u = "7109";
    let mut c = h.held_by(u, INBOX, OwnerRole::Inbox).await;
    assert!(c.control_expires_at.is_some());
    c.owner = Owner::app(BOT, OwnerRole::Bot);
    c.renew_lease(h.now(), WINDOW);
    assert_eq!(c.control_expires_at, None);
    assert_eq!(h.page().reset_after(), WINDOW);
    h.clock.advance_secs(WINDOW * 2);
    assert_eq!(
        h.reset.reset(PAGE, "no-such-psid").await.unwrap(),
        ResetOutcome::Skipped {
            reason: SkipReason::NoLease
        }
    );
}

async fn leases_of_a_page_removed_from_the_configuration_are_parked_once(h: World) {
    // A conversation of Page 999, which the configuration no longer has, with a lease due.
    let now = h.now();
    let mut state = Conversation::new("999", "7190", now - 120_000);
    state.owner = Owner::app(INBOX, OwnerRole::Inbox);
    state.version = 1;
    state.control_expires_at = Some(now / 1000 - 60);
    let lease = LeaseChange::between(None, state.control_expires_at);
    h.write(0, lease, state, Vec::new()).await;
    let first = h.sweep().await;
    assert_eq!((first.due_found, first.skipped), (1, 1), "{first:?}");
    let second = h.sweep().await;
    assert_eq!(
        second.due_found, 0,
        "parked: no sweep reads it again: {second:?}"
    );
    let record = h.store.conversation("999", "7190").await.unwrap().unwrap();
    assert_eq!(
        record.owner.role,
        OwnerRole::Inbox,
        "the record itself is kept"
    );
    assert_eq!(record.control_expires_at, None);
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness_with(super::memory(), "release").await).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_pass_to_bot_reset_action_gives_it_to_the_bot() {
                super::the_pass_to_bot_reset_action_gives_it_to_the_bot(super::memory()).await;
            }
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = super::dynamo(super::TABLES).await;
                    super::$name(super::harness_with(store, "release").await).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_pass_to_bot_reset_action_gives_it_to_the_bot() {
                let store = super::dynamo(super::TABLES).await;
                super::the_pass_to_bot_reset_action_gives_it_to_the_bot(store).await;
            }
        }
    };
}

/// TTL deleted the lease item (the stream path's record then failed for good); a reset
/// that fails for now puts the item back, so the sweep still finds it.
async fn a_lease_deleted_by_ttl_comes_back_when_a_reset_fails(h: World) {
    let u = "7110";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    // What TTL does: the LEASE item goes, the record keeps its past deadline.
    let record = h.record(u).await;
    let mut state = record.clone();
    state.version += 1;
    h.write(record.version, LeaseChange::Remove, state, Vec::new())
        .await;
    assert_eq!(h.sweep().await.due_found, 0, "the index lost it");

    h.emulator_post(
        "faults/graph-error",
        // One failed release per reset: a release that may have reached Meta is never
        // repeated inside the call.
        json!({"endpoint": "release_thread_control", "count": 1, "status": 500, "code": 2}),
    )
    .await;
    assert!(matches!(
        h.reset.reset(PAGE, u).await,
        Err(routing_usecases::timed_reset::ResetError::GraphUnavailable(
            _
        ))
    ));
    let report = h.sweep().await;
    assert_eq!((report.due_found, report.reset), (1, 1), "{report:?}");
    assert_eq!(h.true_owner(u).await, None);
}

/// The agent takes the conversation (Meta accepts) while the reset's release is in
/// flight: the take renews the lease, so it wins like a reply: the reset gives control
/// back to the agent's app at Meta.
async fn an_agent_take_during_the_reset_is_not_overwritten(h: World) {
    let u = "7111";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    let running = h.reset_with_slow_release(u).await;
    let request: routing_usecases::control::ControlRequest =
        serde_json::from_value(json!({"action": "take", "as": "inbox"})).unwrap();
    let taken = h.control.control(PAGE, u, request).await;
    assert!(taken.is_ok(), "{taken:?}");

    let outcome = running.await.unwrap().unwrap();
    assert_eq!(
        outcome,
        ResetOutcome::Restored {
            owner: Owner::app(INBOX, OwnerRole::Inbox)
        }
    );
    let record = h.record(u).await;
    assert_eq!(
        record.owner,
        Owner::app(INBOX, OwnerRole::Inbox),
        "not recorded idle"
    );
    assert_eq!(record.reset_claimed_at, None);
    assert!(!record.lease_expired(h.now()), "the take renewed the lease");
    assert_eq!(
        h.true_owner(u).await.as_deref(),
        Some(INBOX),
        "Meta agrees: the agent holds it"
    );
    assert!(!record.needs_resync);
}

/// Another app takes the conversation while the reset's release is in flight: a newer
/// owner, so the reset is not recorded over it, and a re-sync is asked for.
async fn another_owner_during_the_reset_is_not_overwritten(h: World) {
    let u = "7112";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.clock.advance_secs(WINDOW + 1);
    let running = h.reset_with_slow_release(u).await;
    // The bot takes it back (Meta accepts: the release is still on its way).
    let request: routing_usecases::control::ControlRequest =
        serde_json::from_value(json!({"action": "take", "as": "bot"})).unwrap();
    let taken = h.control.control(PAGE, u, request).await;
    assert!(taken.is_ok(), "{taken:?}");

    // Meta refuses the release (the inbox no longer holds it): the refusal is flagged, and
    // the bot's newer control stays recorded.
    let outcome = running.await.unwrap().unwrap();
    assert!(
        matches!(outcome, ResetOutcome::Flagged { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT));
    let record = h.record(u).await;
    assert_eq!(
        record.owner,
        Owner::app(BOT, OwnerRole::Bot),
        "the newer owner stays"
    );
    assert!(record.needs_resync, "Meta decides which came last");
    assert_eq!(record.reset_claimed_at, None);
}

scenarios!(
    a_lease_deleted_by_ttl_comes_back_when_a_reset_fails,
    an_agent_take_during_the_reset_is_not_overwritten,
    another_owner_during_the_reset_is_not_overwritten,
    a_due_lease_is_reset_once_through_the_graph_api,
    a_renewed_lease_is_not_reset,
    an_agent_reply_during_the_reset_wins,
    meta_inbox_threads_are_left_to_meta_and_queued_for_resync,
    a_permanent_refusal_is_flagged_and_not_retried,
    a_graph_outage_leaves_the_lease_due_for_the_next_sweep,
    a_long_graph_outage_stops_the_sweep,
    the_sweep_and_the_stream_path_reset_once,
    conversations_with_the_bot_or_idle_have_no_lease,
    leases_of_a_page_removed_from_the_configuration_are_parked_once,
);

/// 10,000 leases of which 10 are due: the sweep reads only the due ones from the index
/// (DynamoDB's own count of the items each query read) and resets all 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_on_moto_sweep_reads_only_the_due_leases_among_10000() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use routing_core::store::{lease_shard, schema};
    let counter = RequestCounter::new();
    let store = dynamo_store(TABLES, Some(counter.clone())).await;
    let table = store.table().to_string();
    let h = harness_with(Arc::new(store), "release").await;
    let now_s = h.now() / 1000;

    // 9,990 leases far from due, written as the lease items the store writes.
    let not_due = (0..9_990)
        .map(|i| {
            let psid = format!("8{i:06}");
            let s = |v: String| AttributeValue::S(v);
            let due = now_s + 2 * WINDOW + i64::from(i % 3000);
            [
                (schema::PK, s(format!("CONV#{PAGE}#{psid}"))),
                (schema::SK, s(schema::LEASE_SK.to_string())),
                ("page_id", s(PAGE.to_string())),
                ("psid", s(psid.clone())),
                (schema::LEASE_SHARD, s(lease_shard(&psid))),
                (schema::LEASE_DUE, AttributeValue::N(due.to_string())),
                (schema::TTL, AttributeValue::N(due.to_string())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        })
        .collect();
    batch_put(&table, not_due).await;
    // 10 real conversations whose leases fall due.
    let due: Vec<String> = (0..10).map(|i| format!("9{i:03}")).collect();
    for psid in &due {
        h.held_by(psid, INBOX, OwnerRole::Inbox).await;
    }
    h.clock.advance_secs(WINDOW + 1);

    counter.reset();
    let report = h.sweep().await;
    let requests = counter.by_operation();
    let query_items = counter.items_read_by_operation().get("Query").copied();
    println!(
        "sweep over 10,000 leases (10 due): {report:?}; requests {requests:?}; items read {:?}",
        counter.items_read_by_operation()
    );
    assert_eq!((report.due_found, report.reset), (10, 10), "{report:?}");
    assert_eq!(
        query_items,
        Some(10),
        "the index queries read exactly the 10 due leases"
    );
    assert_eq!(
        requests.get("Query").copied(),
        Some(u64::from(routing_usecases::ports::LEASE_SHARDS)),
        "one query per shard"
    );
    for psid in &due {
        assert_eq!(h.record(psid).await.owner, Owner::idle());
        assert_eq!(h.true_owner(psid).await, None);
    }
}
