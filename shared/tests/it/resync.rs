//! The re-sync against both stores (MemoryStore, and DynamoStore on moto) with the Graph
//! API played by the Messenger Platform emulator over real HTTP. Meta's owner is changed
//! behind the coordinator's back through the emulator's control API (no webhook), as when
//! a webhook was lost; the re-sync asks `thread_owner` and corrects the record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use routing_core::http::{resync_api, ApiError};
use routing_core::store::{lease_shard, resync_shard, RequestCounter};
use routing_domain::transition::{apply_control_change, ControlChange};
use routing_domain::{Cause, Conversation, Owner, OwnerRole, PAGE_INBOX_APP_ID};
use routing_usecases::control::MessageRequest;
use routing_usecases::outages::MAX_OUTAGES_IN_A_ROW;
use routing_usecases::ports::{LeaseChange, QueueQuery, Store, LEASE_SHARDS, RESYNC_SHARDS};
use routing_usecases::resync::{ResyncBatchReport, ResyncLimits, LEASE_ROTATION_SECS};
use routing_usecases::testing::{API_TOKEN, BOT, INBOX, PAGE};
use serde_json::{json, Value};

use crate::support::{batch_put, dynamo, dynamo_store, memory, World};

/// The Page's window in these tests (Meta's own is 24 h).
const WINDOW: i64 = 3600;
/// The prefix of the moto tables' names.
const TABLES: &str = "resync";

async fn harness(store: Arc<dyn Store>) -> World {
    World::start(store, WINDOW, None).await
}

/// A batch with a generous time budget. The rate is high so that tests stay fast: the
/// pacing itself is covered by the unit tests of `routing_usecases::resync`.
fn limits(rate_per_second: u32, lease_slice: u32) -> ResyncLimits {
    ResyncLimits {
        stop_at: Instant::now() + Duration::from_secs(300),
        rate_per_second,
        lease_slice,
    }
}

impl World {
    async fn inbox_queue(&self) -> Vec<String> {
        self.store
            .queue(&QueueQuery {
                page_id: PAGE.to_string(),
                role: OwnerRole::Inbox,
                unread_only: false,
                limit: 200,
                cursor: None,
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| c.psid)
            .collect()
    }

    async fn batch(&self, limits: ResyncLimits) -> ResyncBatchReport {
        self.resync.batch(limits).await
    }

    /// A silent pass to our inbox: Meta's owner is the inbox, the record says the bot and
    /// is flagged for re-sync.
    async fn drifted_to_inbox(&self, psid: &str) {
        self.set_true_owner(psid, Some(INBOX)).await;
        self.seed(psid, Owner::app(BOT, OwnerRole::Bot), true).await;
    }

    /// Meta's faults end: the next run repairs the `n` still flagged, and none is left.
    async fn next_run_repairs(&self, n: u64) -> ResyncBatchReport {
        self.emulator_post("faults/reset", json!({})).await;
        let report = self.batch(limits(1000, 0)).await;
        assert_eq!((report.changed, report.failed), (n, 0), "{report:?}");
        assert!(self.flagged().await.is_empty());
        report
    }
}

fn page_inbox() -> Owner {
    Owner::app(PAGE_INBOX_APP_ID, OwnerRole::PageInbox)
}

// ---- scenarios ------------------------------------------------------------------------

async fn a_silent_change_at_meta_is_corrected_on_demand(h: World) {
    let u = "7201";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    assert!(h.inbox_queue().await.contains(&u.to_string()));
    // A human replies in Meta's inbox; the echo never reaches us.
    h.set_true_owner(u, Some(PAGE_INBOX_APP_ID)).await;
    let meta_expires = h.true_thread(u).await["expires_at"].as_i64().unwrap();

    let outcome = h.resync.resync(PAGE, u).await.expect("re-sync");
    assert!(outcome.changed);
    assert_eq!(outcome.conversation.owner, page_inbox());
    // The inbox may not see Meta's inbox holding it (2018234); the bot (default app) may.
    assert_eq!((outcome.graph_calls, outcome.asked_as.as_str()), (2, BOT));
    let record = h.record(u).await;
    assert_eq!(record, outcome.conversation);
    assert_eq!(
        record.control_expires_at,
        Some(meta_expires),
        "Meta idles it at its own expiration"
    );
    assert!(!record.needs_resync);
    let entries = h.control_entries(u).await;
    let (from, to, cause, event, metadata) = entries.last().cloned().expect("a control entry");
    assert_eq!(
        (from, to, cause, event.as_str()),
        (
            Owner::app(INBOX, OwnerRole::Inbox),
            page_inbox(),
            Cause::Resync,
            "thread_owner"
        )
    );
    let metadata = metadata.unwrap_or_default();
    assert!(
        metadata.contains(INBOX) && metadata.contains(PAGE_INBOX_APP_ID),
        "names old and new owner: {metadata}"
    );
    assert!(
        !h.inbox_queue().await.contains(&u.to_string()),
        "no longer in our agents' queue"
    );

    // Asked again: nothing to correct, nothing written.
    let again = h.resync.resync(PAGE, u).await.expect("re-sync");
    assert!(!again.changed);
    assert_eq!(again.conversation.version, record.version, "no write");
    assert_eq!(h.control_entries(u).await.len(), entries.len());
}

async fn idle_at_meta_makes_the_record_idle(h: World) {
    let u = "7202";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.set_true_owner(u, None).await;
    let outcome = h.resync.resync(PAGE, u).await.expect("re-sync");
    assert!(outcome.changed);
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::idle());
    assert_eq!(record.control_expires_at, None, "no lease when idle");
    assert!(!record.unread);
    assert_eq!(
        h.control_entries(u)
            .await
            .last()
            .map(|e| (e.1.clone(), e.2)),
        Some((Owner::idle(), Cause::Resync))
    );
}

async fn a_hidden_owner_falls_back_to_another_app(h: World) {
    let u = "7203";
    let seeded = h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.emulator_post(
        "faults/graph-error",
        json!({"endpoint": "thread_owner", "count": 1, "status": 400, "code": 100,
               "error_subcode": 2018234}),
    )
    .await;
    let outcome = h.resync.resync(PAGE, u).await.expect("re-sync");
    assert_eq!(
        outcome.graph_calls, 2,
        "the inbox was refused, the bot answered"
    );
    assert_eq!(outcome.asked_as, BOT);
    assert!(!outcome.changed);
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert_eq!(
        record.control_expires_at, seeded.control_expires_at,
        "the Page's window (1 h) stays: it ends before Meta's (24 h)"
    );
}

async fn a_flag_is_cleared_and_a_dropped_lease_restored(h: World) {
    // The timed reset gave up on it (Meta refused): flagged, lease removed.
    let u = "7204";
    let seeded = h.held_by(u, INBOX, OwnerRole::Inbox).await;
    let mut flagged = seeded.clone();
    flagged.version += 1;
    flagged.needs_resync = true;
    flagged.control_expires_at = None;
    h.write(
        seeded.version,
        LeaseChange::Remove,
        flagged.clone(),
        Vec::new(),
    )
    .await;
    assert_eq!(h.flagged().await, vec![u.to_string()]);
    let outcome = h.resync.resync(PAGE, u).await.expect("re-sync");
    assert!(!outcome.changed);
    let record = h.record(u).await;
    assert_eq!(record.version, flagged.version + 1);
    assert!(!record.needs_resync);
    assert_eq!(
        record.control_expires_at,
        h.true_thread(u).await["expires_at"].as_i64(),
        "the lease is back, from Meta's expiration"
    );
    assert!(h.flagged().await.is_empty());
}

async fn the_http_route_answers_the_contract(h: World) {
    let u = "7205";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    h.set_true_owner(u, Some(INBOX)).await;
    let auth = format!("Bearer {API_TOKEN}");
    let path = format!("/prod/pages/{PAGE}/conversations/{u}/resync");
    let reply = resync_api::handle(&h.resync, "POST", &path, Some(&auth), b"").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["changed"], true);
    assert_eq!(body["owner"], json!({"app_id": INBOX, "role": "inbox"}));
    assert!(
        body["control_expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    assert_eq!(body["conversation"]["psid"], u);
    assert_eq!(body["conversation"]["needs_resync"], false);
    assert_eq!(
        body["conversation"]["unread"], true,
        "a handover to our agents we missed shows in their queue"
    );
    assert!(h.inbox_queue().await.contains(&u.to_string()));

    let reply = resync_api::handle(&h.resync, "POST", &path, None, b"").await;
    assert_eq!(reply.status, 401);
    let reply = resync_api::handle(
        &h.resync,
        "POST",
        &path,
        Some("Bearer not-a-token-of-ours"),
        b"",
    )
    .await;
    assert_eq!(reply.status, 403);
    let reply = resync_api::handle(&h.resync, "GET", &path, Some(&auth), b"").await;
    assert_eq!(reply.status, 405);
    let reply = resync_api::handle(
        &h.resync,
        "POST",
        &format!("/pages/{PAGE}/conversations/{u}"),
        Some(&auth),
        b"",
    )
    .await;
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("unknown_route"), "{}", reply.body);
    let reply = resync_api::handle(
        &h.resync,
        "POST",
        &format!("/pages/{PAGE}/conversations/no-such-psid/resync"),
        Some(&auth),
        b"",
    )
    .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.body.contains("unknown_conversation"),
        "{}",
        reply.body
    );
    let reply = resync_api::handle(
        &h.resync,
        "POST",
        &format!("/pages/999/conversations/{u}/resync"),
        Some(&auth),
        b"",
    )
    .await;
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("unknown_page"), "{}", reply.body);
}

/// The DynamoDB variant's extras: the counting client's counter, and the table's name to
/// write the clean records in bulk.
struct Bulk {
    counter: RequestCounter,
    table: String,
}

/// Write clean records (not flagged, no lease) as the store's record items, in batches:
/// set-up only, so that 1,000 conversations take seconds on moto.
async fn write_raw_records(bulk: &Bulk, records: &[Conversation]) {
    use routing_core::store::schema;
    let items = records
        .iter()
        .map(|c| {
            assert!(!c.needs_resync && c.control_expires_at.is_none() && !c.unread);
            let mut value = serde_json::to_value(c).unwrap();
            let fields = value.as_object_mut().unwrap();
            fields.insert(
                schema::PK.into(),
                json!(format!("CONV#{}#{}", c.page_id, c.psid)),
            );
            fields.insert(schema::SK.into(), json!(schema::STATE_SK));
            fields.insert(
                schema::QUEUE_PK.into(),
                json!(format!("{}#{}", c.page_id, c.owner.role.as_str())),
            );
            fields.insert(
                schema::QUEUE_SK.into(),
                json!(format!("{:013}#{}", c.last_activity_at, c.psid)),
            );
            serde_dynamo::to_item(value).unwrap()
        })
        .collect();
    batch_put(&bulk.table, items).await;
}

/// 1,000 conversations of which 100 drifted from Meta and are flagged: one batch repairs
/// all 100, reading them through the `resync` index, with one Graph call each.
async fn a_batch_repairs_the_flagged_among_1000(h: World, bulk: Option<Bulk>) {
    let counter = bulk.as_ref().map(|b| b.counter.clone());
    let drifted: Vec<String> = (0..100).map(|i| format!("61{i:03}")).collect();
    let clean: Vec<String> = (0..900).map(|i| format!("62{i:03}")).collect();
    // Meta: the drifted ones were passed to the inbox or taken by Meta's inbox; the
    // clean ones are with the bot.
    for (i, psid) in drifted.iter().enumerate() {
        let owner = if i % 2 == 0 { INBOX } else { PAGE_INBOX_APP_ID };
        h.set_true_owner(psid, Some(owner)).await;
    }
    for psid in &clean {
        h.set_true_owner(psid, Some(BOT)).await;
    }
    // The record: all with the bot; the drifted ones flagged (a standby message, say).
    let bot = || Owner::app(BOT, OwnerRole::Bot);
    let seed_all = |psids: Vec<String>, flagged: bool| {
        let h = &h;
        stream::iter(psids)
            .map(move |psid| async move { h.seed(&psid, bot(), flagged).await })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
    };
    seed_all(drifted.clone(), true).await;
    match &bulk {
        Some(bulk) => {
            let records: Vec<Conversation> = clean
                .iter()
                .map(|psid| {
                    let mut c = Conversation::new(PAGE, psid.as_str(), h.now());
                    c.owner = bot();
                    c.version = 1;
                    c.last_customer_message_at = Some(h.now());
                    c
                })
                .collect();
            write_raw_records(bulk, &records).await;
        }
        None => {
            seed_all(clean.clone(), false).await;
        }
    }

    assert_eq!(h.flagged().await.len(), 100);

    if let Some(counter) = &counter {
        counter.reset();
    }
    let rate = 1000;
    let lease_slice = 50;
    let report = h.batch(limits(rate, lease_slice)).await;
    assert_eq!(
        (report.examined, report.changed, report.failed),
        (100, 100, 0),
        "{report:?}"
    );
    assert!(!report.rate_limited && !report.stopped_early, "{report:?}");
    assert_eq!(
        report.graph_calls, 100,
        "one thread_owner call per repaired conversation (asked as the bot, the default app)"
    );
    assert_eq!(
        report.leases_examined, 0,
        "repaired ones are not asked twice"
    );
    if let Some(counter) = &counter {
        let requests = counter.by_operation();
        let items = counter.items_read_by_operation();
        let repaired = report.changed as f64;
        println!(
            "batch over 1,000 conversations (100 flagged): {report:?}\n  DynamoDB requests {requests:?}, items read {items:?}\n  per re-synced conversation: {:.2} Graph calls, {:.2} DynamoDB requests ({:.2} writes)",
            report.graph_calls as f64 / repaired,
            requests.values().sum::<u64>() as f64 / repaired,
            requests.get("TransactWriteItems").copied().unwrap_or(0) as f64 / repaired,
        );
        assert!(
            !requests.contains_key("Scan"),
            "never a table scan: {requests:?}"
        );
        let query_items = items.get("Query").copied().unwrap_or(0);
        assert!(
            (100..=100 + u64::from(lease_slice)).contains(&query_items),
            "the index queries read the flagged ones (and the lease slice), not 1,000: {query_items}"
        );
        let queries = requests.get("Query").copied().unwrap_or(0);
        assert!(
            (u64::from(RESYNC_SHARDS) + 1..=u64::from(RESYNC_SHARDS) + 2).contains(&queries),
            "one query per resync shard, one or two for the lease slice (from its start, then \
             around from the earliest): {queries}"
        );
    }
    assert!(h.flagged().await.is_empty());
    for (i, psid) in drifted.iter().enumerate() {
        let record = h.record(psid).await;
        let expected = if i % 2 == 0 {
            Owner::app(INBOX, OwnerRole::Inbox)
        } else {
            page_inbox()
        };
        assert_eq!(record.owner, expected, "{psid}");
        assert!(record.control_expires_at.is_some(), "{psid} holds a lease");
    }
    assert_eq!(h.record(&clean[0]).await.version, 1, "clean ones untouched");

    // The next run finds nothing flagged; its lease slice confirms some repaired ones.
    let next = h.batch(limits(rate, lease_slice)).await;
    assert_eq!(
        (next.flagged_examined, next.changed, next.failed),
        (0, 0, 0),
        "{next:?}"
    );
    assert!(next.lease_shard < LEASE_SHARDS);
    assert!(next.leases_examined <= u64::from(lease_slice));
    assert_eq!(next.unchanged, next.leases_examined, "{next:?}");
}

/// One lease shard holds more leases than a slice: the four due soonest are right, four due
/// 6 h to 21 h out drifted silently to Meta's inbox. Successive visits of the shard start
/// their slice at different due times (wrapping around to the soonest), so the later ones
/// are reached and repaired: the slice is not always the soonest few.
async fn the_lease_slice_reaches_every_lease_of_a_shard(h: World) {
    // A fixed clock at the start of a visit of shard 0, in the past (so every lease here
    // ends before Meta's expirations, which the emulator dates from its real clock): each
    // run of this test makes the same visits.
    let cycle = LEASE_ROTATION_SECS * i64::from(LEASE_SHARDS);
    let start = 1_700_000_000 - 1_700_000_000 % cycle;
    h.clock.set(start * 1000);
    let psids: Vec<String> = (0..)
        .map(|i| format!("65{i:03}"))
        .filter(|psid| lease_shard(psid) == "LEASE#0")
        .take(8)
        .collect();
    let (soon, later) = psids.split_at(4);
    for (i, psid) in (1..).zip(soon) {
        h.set_true_owner(psid, Some(INBOX)).await;
        let due = start + 60 * i;
        h.seed_with_lease(psid, Owner::app(INBOX, OwnerRole::Inbox), false, Some(due))
            .await;
    }
    for (i, psid) in (0..).zip(later) {
        h.set_true_owner(psid, Some(PAGE_INBOX_APP_ID)).await;
        let due = start + 3600 * (6 + 5 * i);
        h.seed_with_lease(psid, Owner::app(INBOX, OwnerRole::Inbox), false, Some(due))
            .await;
    }

    let slice = 2;
    let mut offsets = Vec::new();
    let mut repaired = Vec::new();
    for _visit in 0..16 {
        let report = h.batch(limits(1000, slice)).await;
        assert_eq!(report.lease_shard, 0, "{report:?}");
        assert_eq!(report.leases_examined, u64::from(slice), "{report:?}");
        assert_eq!(report.failed, 0, "{report:?}");
        offsets.push(report.lease_slice_from - h.now() / 1000);
        repaired = Vec::new();
        for psid in later {
            if h.record(psid).await.owner == page_inbox() {
                repaired.push(psid.clone());
            }
        }
        if repaired.len() == later.len() {
            break;
        }
        h.clock.advance_secs(cycle);
    }
    assert_eq!(
        repaired, later,
        "every drifted lease reached; slices started {offsets:?} s after now"
    );
    assert!(
        offsets.len() > 1 && offsets.iter().any(|o| *o != offsets[0]),
        "the slice start moved between visits: {offsets:?}"
    );
    for psid in soon {
        let record = h.record(psid).await;
        assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox), "{psid}");
        assert_eq!(record.version, 1, "{psid}: right, so never rewritten");
    }
}

/// Meta's Graph API is down (500s after the client's retries): the batch stops after
/// three failed re-syncs in a row instead of spending its run on the outage; the rest stays
/// flagged, and the next run repairs them all.
async fn an_outage_stops_the_batch_and_the_next_run_resumes(h: World) {
    let drifted: Vec<String> = (0..10).map(|i| format!("66{i:03}")).collect();
    for psid in &drifted {
        h.drifted_to_inbox(psid).await;
    }
    h.emulator_post(
        "faults/graph-error",
        json!({"endpoint": "thread_owner", "count": 1000, "status": 500, "code": 2}),
    )
    .await;
    let report = h.batch(limits(1000, 0)).await;
    assert!(
        report.graph_unavailable && !report.rate_limited,
        "{report:?}"
    );
    assert_eq!(
        (report.examined, report.changed, report.failed),
        (
            u64::from(MAX_OUTAGES_IN_A_ROW),
            0,
            u64::from(MAX_OUTAGES_IN_A_ROW)
        ),
        "stops after {MAX_OUTAGES_IN_A_ROW} outages in a row: {report:?}"
    );
    assert_eq!(h.flagged().await.len(), 10, "the rest stays flagged");
    for psid in &drifted {
        assert_eq!(h.record(psid).await.version, 1, "{psid}: nothing written");
    }

    let report = h.next_run_repairs(10).await;
    assert!(!report.graph_unavailable, "{report:?}");
}

/// A flagged conversation whose re-sync Meta refuses goes to the back of its shard's line:
/// still flagged, nothing else changed, and the ones flagged after it go first next run.
async fn a_refused_resync_goes_to_the_back_of_the_line(h: World) {
    let shard = resync_shard("67000");
    let psids: Vec<String> = (0..)
        .map(|i| format!("67{i:03}"))
        .filter(|psid| resync_shard(psid) == shard)
        .take(2)
        .collect();
    let (first, second) = (&psids[0], &psids[1]);
    for psid in &psids {
        h.drifted_to_inbox(psid).await;
        h.clock.advance_secs(1);
    }
    assert_eq!(h.flagged().await, psids, "longest-flagged first");

    // Meta refuses the first question for good, then rate-limits the rest (past the
    // client's retries).
    h.emulator_post(
        "faults/graph-error",
        json!({"endpoint": "thread_owner", "count": 1, "status": 400, "code": 100,
               "message": "Unsupported get request"}),
    )
    .await;
    h.emulator_post(
        "faults/graph-error",
        json!({"endpoint": "thread_owner", "count": 50, "status": 400, "code": 4}),
    )
    .await;
    let report = h.batch(limits(1000, 0)).await;
    assert_eq!((report.failed, report.changed), (2, 0), "{report:?}");
    assert!(report.rate_limited, "{report:?}");

    assert_eq!(
        h.flagged().await,
        vec![second.clone(), first.clone()],
        "the refused one waits behind the one flagged after it"
    );
    let refused = h.record(first).await;
    assert!(refused.needs_resync);
    assert_eq!(refused.owner, Owner::app(BOT, OwnerRole::Bot));
    assert_eq!(refused.version, 2);
    assert!(
        h.control_entries(first).await.is_empty(),
        "no change of control"
    );
    assert_eq!(h.record(second).await.version, 1, "rate limited: untouched");

    h.next_run_repairs(2).await;
}

async fn rate_limiting_stops_the_batch_and_the_next_run_resumes(h: World) {
    let drifted: Vec<String> = (0..10).map(|i| format!("63{i:03}")).collect();
    for psid in &drifted {
        h.drifted_to_inbox(psid).await;
    }
    h.emulator_post(
        "faults/graph-error",
        json!({"endpoint": "thread_owner", "count": 50, "status": 400, "code": 4}),
    )
    .await;
    let report = h.batch(limits(1000, 0)).await;
    assert!(report.rate_limited, "{report:?}");
    assert_eq!(
        (report.examined, report.changed, report.failed),
        (1, 0, 1),
        "stops at the first rate-limit answer: {report:?}"
    );
    assert_eq!(h.flagged().await.len(), 10, "the rest stays flagged");

    let report = h.next_run_repairs(10).await;
    assert!(!report.rate_limited, "{report:?}");
    for psid in &drifted {
        assert_eq!(
            h.record(psid).await.owner,
            Owner::app(INBOX, OwnerRole::Inbox)
        );
    }
}

async fn a_control_event_during_the_question_is_not_overwritten(h: World) {
    let u = "7206";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    h.set_true_owner(u, Some(PAGE_INBOX_APP_ID)).await;
    // Meta is slow to answer the first question.
    h.emulator_post(
        "faults/latency",
        json!({"endpoint": "thread_owner", "latency_ms": 800, "count": 1}),
    )
    .await;
    let resync = h.resync.clone();
    let running = tokio::spawn(async move { resync.resync(PAGE, "7206").await });
    // The question is in flight once the emulator took the latency fault.
    loop {
        let faults = h.emulator_get("faults").await;
        if faults["latencies"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Meanwhile a newer control event lands (a pass to our inbox, through a webhook).
    let current = h.record(u).await;
    let page = h.page();
    let newer = apply_control_change(
        &current,
        &ControlChange {
            to: Owner::app(INBOX, OwnerRole::Inbox),
            cause: Cause::Webhook,
            actor: Some(BOT),
            event: "pass_thread_control",
            metadata: None,
            // Meta's timestamp of the pass: after the seeded event, before now.
            at: h.now() - 1000,
            key: "webhook-pass".to_string(),
        },
        &page,
    );
    let lease = LeaseChange::between(current.control_expires_at, newer.state.control_expires_at);
    h.write(newer.expected_version, lease, newer.state, newer.timeline)
        .await;

    let outcome = running.await.unwrap().expect("re-sync");
    assert!(
        outcome.graph_calls >= 2,
        "the first answer may predate the pass: asked again ({outcome:?})"
    );
    let record = h.record(u).await;
    let meta = h.true_thread(u).await;
    assert_eq!(
        record.owner.app_id.as_deref(),
        meta["owner_app_id"].as_str()
    );
    assert_eq!(record.owner, page_inbox());
    let entries = h.control_entries(u).await;
    let events: Vec<(Cause, &str)> = entries.iter().map(|e| (e.2, e.3.as_str())).collect();
    assert_eq!(
        events,
        vec![
            (Cause::Webhook, "pass_thread_control"),
            (Cause::Resync, "thread_owner")
        ],
        "the newer event is kept, and the re-sync applies after it"
    );
    assert_eq!(
        entries[1].0,
        Owner::app(INBOX, OwnerRole::Inbox),
        "corrected from the newer record"
    );
}

async fn the_control_api_resyncs_when_meta_refuses_a_message(h: World) {
    let u = "7207";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    // A pass to the inbox we never heard of.
    h.set_true_owner(u, Some(INBOX)).await;
    let request: MessageRequest =
        serde_json::from_value(json!({"text": "Anything else?", "as": "bot"})).unwrap();
    let err = h
        .control
        .send_message(PAGE, u, request)
        .await
        .expect_err("Meta refuses: the inbox holds it");
    let err = ApiError::from(err);
    assert_eq!((err.status, err.code), (409, "not_owner"));
    let details = err.details.clone().unwrap_or_default();
    assert_eq!(
        details["owner"],
        json!({"app_id": INBOX, "role": "inbox"}),
        "Meta's real owner: {details}"
    );
    let record = h.record(u).await;
    assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(!record.needs_resync, "re-synced, not left flagged");
    assert!(h.flagged().await.is_empty());
    assert_eq!(
        h.control_entries(u).await.last().map(|e| e.2),
        Some(Cause::Resync)
    );
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness(super::memory()).await).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_batch_repairs_the_flagged_among_1000() {
                super::a_batch_repairs_the_flagged_among_1000(
                    super::harness(super::memory()).await,
                    None,
                )
                .await;
            }
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness(super::dynamo(super::TABLES).await).await).await;
                }
            )*
            /// Prints Graph calls and DynamoDB requests per re-synced conversation
            /// (`--nocapture`).
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_batch_repairs_the_flagged_among_1000() {
                let counter = super::RequestCounter::new();
                let store = super::dynamo_store(super::TABLES, Some(counter.clone())).await;
                let bulk = super::Bulk {
                    counter,
                    table: store.table().to_string(),
                };
                super::a_batch_repairs_the_flagged_among_1000(
                    super::harness(std::sync::Arc::new(store)).await,
                    Some(bulk),
                )
                .await;
            }
        }
    };
}

scenarios!(
    a_silent_change_at_meta_is_corrected_on_demand,
    idle_at_meta_makes_the_record_idle,
    a_hidden_owner_falls_back_to_another_app,
    a_flag_is_cleared_and_a_dropped_lease_restored,
    the_http_route_answers_the_contract,
    rate_limiting_stops_the_batch_and_the_next_run_resumes,
    a_control_event_during_the_question_is_not_overwritten,
    the_control_api_resyncs_when_meta_refuses_a_message,
    the_lease_slice_reaches_every_lease_of_a_shard,
    an_outage_stops_the_batch_and_the_next_run_resumes,
    a_refused_resync_goes_to_the_back_of_the_line,
);
