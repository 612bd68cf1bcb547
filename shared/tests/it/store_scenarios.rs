//! One scenario suite, run against both stores: `memory_store::*` and
//! `dynamodb_on_moto::*` (a real DynamoDB API server: moto, started by the harness, with a
//! fresh table per test). The in-memory store can never drift from DynamoDB's semantics.

use routing_core::meta::webhook::MetaWebhooks;
use std::sync::Arc;

use routing_core::store::{MemoryStore, RequestCounter};
use routing_domain::{
    Author, Conversation, EpochSeconds, FixedClock, Happening, OwnerRole, TimelineEntry,
};
use routing_usecases::business_events::{EventPublisher, RecordChange};
use routing_usecases::ingest::{IngestReport, WebhookIngest, QUARANTINE_BODY_BYTES};
use routing_usecases::ports::{
    ConversationWrite, LeaseChange, QuarantinedBody, QueueQuery, Store, StoreError, TimelineOrder,
    WriteOutcome, LEASE_SHARDS,
};
use routing_usecases::records::Records;
use routing_usecases::testing::*;
use serde_json::{json, Value};

use crate::support::{all_pages, dynamo_store};

const T0: i64 = 1_700_000_000_000;

struct Harness {
    store: Arc<dyn Store>,
    ingest: WebhookIngest,
}

fn harness_with(store: Arc<dyn Store>) -> Harness {
    let clock = Arc::new(FixedClock::at(T0 + 60_000));
    let ingest = MetaWebhooks::ingest(Records::new(config(), store.clone(), clock));
    Harness { store, ingest }
}

fn memory() -> Harness {
    harness_with(Arc::new(MemoryStore::new()))
}

/// The prefix of the moto tables' names.
const TABLES: &str = "scenario";

async fn dynamo() -> Harness {
    harness_with(Arc::new(dynamo_store(TABLES, None).await))
}

async fn post(h: &Harness, app: &str, body: Value) -> IngestReport {
    h.ingest
        .ingest(app, &bytes(&body))
        .await
        .expect("ingest succeeds")
}

/// One event, delivered alone on `list` to `app`.
async fn deliver(h: &Harness, app: &str, list: &str, event: Value) -> IngestReport {
    post(h, app, envelope(list, vec![event])).await
}

async fn state(h: &Harness, psid: &str) -> Conversation {
    h.store
        .conversation(PAGE, psid)
        .await
        .expect("read")
        .expect("conversation exists")
}

async fn all_timeline(h: &Harness, psid: &str) -> Vec<TimelineEntry> {
    all_pages(|cursor| async move {
        h.store
            .timeline(PAGE, psid, TimelineOrder::OldestFirst, 7, cursor.as_deref())
            .await
            .expect("timeline")
    })
    .await
}

fn messages(timeline: &[TimelineEntry]) -> usize {
    timeline
        .iter()
        .filter(|e| matches!(e.record, Happening::Message { .. }))
        .count()
}

// ---- scenarios ---------------------------------------------------------------------------

async fn duplicate_delivery_is_applied_once(h: Harness) {
    let body = envelope(
        "messaging",
        vec![
            message("u1", T0, "m-1", "hello"),
            pass("u1", T0 + 5, Some(BOT), INBOX),
        ],
    );
    let first = post(&h, BOT, body.clone()).await;
    assert_eq!((first.written, first.duplicates), (2, 0));
    let after_first = state(&h, "u1").await;

    let second = post(&h, BOT, body).await;
    assert_eq!((second.written, second.duplicates), (0, 2));
    let after_second = state(&h, "u1").await;
    assert_eq!(after_first, after_second, "a duplicate changes nothing");
    assert_eq!(
        after_second.version, 1,
        "one conversation's events of a delivery are one write"
    );
    let timeline = all_timeline(&h, "u1").await;
    assert_eq!(messages(&timeline), 1);
    assert_eq!(
        timeline.len(),
        3,
        "one message and two control changes (idle to bot, bot to inbox)"
    );
}

async fn out_of_order_control_events_keep_the_newest(h: Harness) {
    // Meta passed to the bot at T0+1000 and later to the inbox at T0+2000; the inbox's
    // event arrives first.
    deliver(
        &h,
        INBOX,
        "messaging",
        pass("u2", T0 + 2000, Some(BOT), INBOX),
    )
    .await;
    deliver(&h, BOT, "messaging", pass("u2", T0 + 1000, None, BOT)).await;
    let conversation = state(&h, "u2").await;
    assert_eq!(conversation.owner.app_id.as_deref(), Some(INBOX));
    assert_eq!(conversation.owner.role, OwnerRole::Inbox);
    assert!(conversation.unread);
    let timeline = all_timeline(&h, "u2").await;
    let late: Vec<_> = timeline
        .iter()
        .filter(|e| matches!(e.record, Happening::Control { late: true, .. }))
        .collect();
    assert_eq!(
        late.len(),
        1,
        "the older event is kept as late: {timeline:?}"
    );
    assert_eq!(late[0].at, T0 + 1000);
}

async fn batch_of_100_events_over_20_conversations(h: Harness) {
    // Per conversation: customer message, pass to inbox, customer message, agent echo,
    // pass back to the bot; shuffled across entries and within the body.
    let mut entries = Vec::new();
    for c in 0..20 {
        let psid = format!("batch-{c}");
        let t = T0 + i64::from(c) * 10;
        let events = vec![
            (
                message(&psid, t + 4, &format!("{psid}-m2"), "thanks"),
                "messaging",
            ),
            (pass(&psid, t + 5, Some(INBOX), BOT), "messaging"),
            (
                message(&psid, t + 1, &format!("{psid}-m1"), "help"),
                "messaging",
            ),
            (
                echo(&psid, t + 3, &format!("{psid}-e1"), INBOX, "hi, agent here"),
                "messaging",
            ),
            (pass(&psid, t + 2, Some(BOT), INBOX), "messaging"),
        ];
        for (event, list) in events {
            entries.push(entry(list, vec![event]));
        }
    }
    entries.reverse();
    // The whole batch goes to the bot app; ownership evidence comes from the events.
    let report = post(&h, BOT, envelope_of_entries(entries)).await;
    assert_eq!(report.events, 100);
    assert_eq!(report.written, 100);
    for c in 0..20 {
        let psid = format!("batch-{c}");
        let conversation = state(&h, &psid).await;
        assert_eq!(conversation.owner.role, OwnerRole::Bot, "{psid}");
        assert_eq!(
            conversation.version, 1,
            "{psid}: its five events applied in one write"
        );
        assert!(!conversation.unread);
        assert_eq!(
            conversation.control_expires_at, None,
            "no lease with the bot"
        );
        let timeline = all_timeline(&h, &psid).await;
        assert_eq!(messages(&timeline), 3, "{psid}");
        let order: Vec<i64> = timeline.iter().map(|e| e.at).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert!(
            timeline
                .iter()
                .all(|e| !matches!(e.record, Happening::Control { late: true, .. })),
            "{psid}: events applied in timestamp order, none late"
        );
    }
}

async fn concurrent_writers_lose_no_update(h: Harness) {
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let body = envelope(
                "messaging",
                vec![message("hot", T0 + i, &format!("hot-{i}"), "ping")],
            );
            post(&h, BOT, body).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").written, 1);
    }
    let conversation = state(&h, "hot").await;
    assert_eq!(
        conversation.version, 12,
        "every writer's update is in the record"
    );
    assert_eq!(conversation.last_customer_message_at, Some(T0 + 11));
    assert_eq!(messages(&all_timeline(&h, "hot").await), 12);
}

/// `count` message events to one conversation, one per entry, newest first in the body.
fn one_conversation_batch(psid: &str, from: usize, count: usize) -> Value {
    let mut entries: Vec<Value> = (from..from + count)
        .map(|i| {
            let at = T0 + i as i64;
            entry(
                "messaging",
                vec![message(psid, at, &format!("{psid}-{i}"), "batched")],
            )
        })
        .collect();
    entries.reverse();
    envelope_of_entries(entries)
}

fn message_times(timeline: &[TimelineEntry]) -> Vec<i64> {
    timeline
        .iter()
        .filter(|e| matches!(e.record, Happening::Message { .. }))
        .map(|e| e.at)
        .collect()
}

async fn a_large_batch_to_one_conversation_is_applied_in_order_once_in_chunks(h: Harness) {
    let body = one_conversation_batch("big", 0, 250);
    let report = post(&h, BOT, body.clone()).await;
    assert_eq!((report.written, report.duplicates), (250, 0));
    let conversation = state(&h, "big").await;
    assert_eq!(conversation.last_customer_message_at, Some(T0 + 249));
    assert_eq!(conversation.owner.role, OwnerRole::Bot);
    // 250 applied-event keys and their entries are over 500 items: several transactions
    // of at most 100 items, far fewer than one per event.
    assert!(
        (6..=10).contains(&conversation.version),
        "written in chunks: version {}",
        conversation.version
    );
    let timeline = all_timeline(&h, "big").await;
    let expected: Vec<i64> = (0..250).map(|i| T0 + i).collect();
    assert_eq!(
        message_times(&timeline),
        expected,
        "every message once, in order"
    );

    let again = post(&h, BOT, body).await;
    assert_eq!((again.written, again.duplicates), (0, 250));
    assert_eq!(
        state(&h, "big").await,
        conversation,
        "the re-delivery wrote nothing"
    );
}

async fn a_batch_overlapping_stored_events_applies_only_the_new_ones(h: Harness) {
    post(&h, BOT, one_conversation_batch("overlap", 0, 60)).await;
    let report = post(&h, BOT, one_conversation_batch("overlap", 30, 60)).await;
    assert_eq!((report.written, report.duplicates), (30, 30));
    let timeline = all_timeline(&h, "overlap").await;
    let expected: Vec<i64> = (0..90).map(|i| T0 + i).collect();
    assert_eq!(message_times(&timeline), expected);
    assert_eq!(
        state(&h, "overlap").await.last_customer_message_at,
        Some(T0 + 89)
    );
}

async fn concurrent_deliveries_of_one_batch_apply_each_event_once(h: Harness) {
    let h = Arc::new(h);
    let body = one_conversation_batch("race", 0, 120);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (h, body) = (h.clone(), body.clone());
        tasks.push(tokio::spawn(async move { post(&h, BOT, body).await }));
    }
    let (mut written, mut duplicates) = (0, 0);
    for task in tasks {
        let report = task.await.expect("task");
        written += report.written;
        duplicates += report.duplicates;
    }
    assert_eq!(
        (written, duplicates),
        (120, 240),
        "each event applied by one delivery"
    );
    let timeline = all_timeline(&h, "race").await;
    let expected: Vec<i64> = (0..120).map(|i| T0 + i).collect();
    assert_eq!(message_times(&timeline), expected);
    assert_eq!(
        state(&h, "race").await.last_customer_message_at,
        Some(T0 + 119)
    );
}

async fn stale_writes_are_refused_and_change_nothing(h: Harness) {
    deliver(&h, BOT, "messaging", message("u3", T0, "m-u3", "hi")).await;
    let current = state(&h, "u3").await;
    let mut stale = current.clone();
    stale.unread = true;
    stale.version = current.version; // pretends to be based on version - 1
    let write = ConversationWrite {
        expected_version: current.version - 1,
        state: stale,
        timeline: Vec::new(),
        applied_key: Some("stale-write".into()),
        more_applied_keys: Vec::new(),
        lease: LeaseChange::Unchanged,
        timeline_expires_at: 0,
        applied_keys_expire_at: 0,
    };
    assert!(matches!(
        h.store.write(write).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(state(&h, "u3").await, current);

    // Creating a record that already exists is a conflict too.
    let write = ConversationWrite {
        expected_version: 0,
        state: Conversation::new(PAGE, "u3", T0),
        timeline: Vec::new(),
        applied_key: None,
        more_applied_keys: Vec::new(),
        lease: LeaseChange::Unchanged,
        timeline_expires_at: 0,
        applied_keys_expire_at: 0,
    };
    assert!(matches!(
        h.store.write(write).await,
        Err(StoreError::VersionConflict)
    ));
}

async fn a_duplicate_write_writes_nothing(h: Harness) {
    let mut conversation = Conversation::new(PAGE, "u4", T0);
    conversation.version = 1;
    let write = |c: Conversation, expected: u64| ConversationWrite {
        expected_version: expected,
        state: c,
        timeline: Vec::new(),
        applied_key: Some("event-1".into()),
        more_applied_keys: Vec::new(),
        lease: LeaseChange::Set { due: 100 },
        timeline_expires_at: 0,
        applied_keys_expire_at: 0,
    };
    assert_eq!(
        h.store.write(write(conversation.clone(), 0)).await.unwrap(),
        WriteOutcome::Written
    );
    let mut again = conversation.clone();
    again.version = 2;
    again.unread = true;
    assert_eq!(
        h.store.write(write(again, 1)).await.unwrap(),
        WriteOutcome::Duplicate
    );
    assert_eq!(state(&h, "u4").await, conversation);
}

async fn the_queue_lists_inbox_conversations_newest_first(h: Harness) {
    for i in 0..9 {
        let psid = format!("q-{i}");
        deliver(
            &h,
            INBOX,
            "messaging",
            pass(&psid, T0 + i * 100, Some(BOT), INBOX),
        )
        .await;
    }
    // q-0 gets an agent reply (read); q-1 goes back to the bot.
    deliver(
        &h,
        INBOX,
        "messaging",
        echo("q-0", T0 + 5000, "q0-e", INBOX, "on it"),
    )
    .await;
    deliver(
        &h,
        BOT,
        "messaging",
        pass("q-1", T0 + 6000, Some(INBOX), BOT),
    )
    .await;

    let seen: Vec<String> = all_pages(|cursor| async {
        let page = h
            .store
            .queue(&QueueQuery {
                page_id: PAGE.into(),
                role: OwnerRole::Inbox,
                unread_only: true,
                limit: 3,
                cursor,
            })
            .await
            .expect("queue");
        assert!(page.items.len() <= 3);
        page
    })
    .await
    .into_iter()
    .map(|c| c.psid)
    .collect();
    let expected: Vec<String> = (2..9).rev().map(|i| format!("q-{i}")).collect();
    assert_eq!(seen, expected, "unread inbox queue, newest activity first");

    let all = h
        .store
        .queue(&QueueQuery {
            page_id: PAGE.into(),
            role: OwnerRole::Inbox,
            unread_only: false,
            limit: 50,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 8, "q-1 left the inbox");
    assert_eq!(
        all.items[0].psid, "q-0",
        "the agent's reply is the newest activity"
    );

    let bots = h
        .store
        .queue(&QueueQuery {
            page_id: PAGE.into(),
            role: OwnerRole::Bot,
            unread_only: false,
            limit: 50,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(
        bots.items
            .iter()
            .map(|c| c.psid.as_str())
            .collect::<Vec<_>>(),
        vec!["q-1"]
    );
    assert!(matches!(
        h.store
            .queue(&QueueQuery {
                page_id: PAGE.into(),
                role: OwnerRole::Inbox,
                unread_only: false,
                limit: 5,
                cursor: Some("not-a-cursor!".into()),
            })
            .await,
        Err(StoreError::InvalidCursor)
    ));
}

async fn leases_follow_control_and_are_found_when_due(h: Harness) {
    // Three conversations go to the inbox at different times; one comes back to the bot.
    for (psid, t) in [("l-1", T0), ("l-2", T0 + 10_000), ("l-3", T0 + 20_000)] {
        deliver(&h, INBOX, "messaging", pass(psid, t, Some(BOT), INBOX)).await;
    }
    deliver(
        &h,
        BOT,
        "messaging",
        pass("l-3", T0 + 30_000, Some(INBOX), BOT),
    )
    .await;
    let window = 86_400;
    assert_eq!(
        state(&h, "l-1").await.control_expires_at,
        Some(T0 / 1000 + window)
    );
    assert_eq!(state(&h, "l-3").await.control_expires_at, None);

    let due_at = |now: i64| {
        let store = &h.store;
        async move {
            let mut found = Vec::new();
            for shard in 0..LEASE_SHARDS {
                let due = all_pages(|cursor| async move {
                    store
                        .due_leases(shard, EpochSeconds::MIN..=now, 1, cursor.as_deref())
                        .await
                        .expect("due leases")
                })
                .await;
                found.extend(due.into_iter().map(|l| l.psid));
            }
            found.sort();
            found
        }
    };
    assert!(due_at(T0 / 1000 + window - 1).await.is_empty());
    assert_eq!(due_at(T0 / 1000 + window).await, vec!["l-1"]);
    assert_eq!(due_at(T0 / 1000 + window + 60).await, vec!["l-1", "l-2"]);

    // A customer message renews the lease.
    deliver(
        &h,
        INBOX,
        "messaging",
        message("l-1", T0 + 50_000, "l1-m", "still there?"),
    )
    .await;
    assert_eq!(due_at(T0 / 1000 + window + 10).await, vec!["l-2"]);
}

async fn quarantine_keeps_the_exact_body(h: Harness) {
    let body =
        "{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"message\":\"\\u00e4\"}]}]".as_bytes();
    h.store
        .quarantine(QuarantinedBody {
            app_id: BOT.into(),
            received_at: T0,
            body: body.to_vec(),
            body_len: body.len(),
            body_sha256: sha256_hex(body),
            reason: "body is not JSON".into(),
            expires_at: T0 / 1000 + 10,
        })
        .await
        .unwrap();
    let kept = h.store.quarantined(BOT).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body, body);
    assert_eq!(kept[0].reason, "body is not JSON");
    assert!(h.store.quarantined(INBOX).await.unwrap().is_empty());
}

async fn timeline_pages_both_ways_and_keeps_text(h: Harness) {
    let events: Vec<Value> = (0..10)
        .map(|i| message("t-1", T0 + i, &format!("t1-{i}"), &format!("Grüße {i}")))
        .collect();
    post(&h, BOT, envelope("messaging", events)).await;
    let oldest: Vec<TimelineEntry> = all_timeline(&h, "t-1")
        .await
        .into_iter()
        .filter(|e| matches!(e.record, Happening::Message { .. }))
        .collect();
    assert_eq!(oldest.len(), 10);
    match &oldest[0].record {
        Happening::Message { author, text, .. } => {
            assert_eq!(*author, Author::Customer);
            assert_eq!(text.as_deref(), Some("Grüße 0"));
        }
        other => panic!("expected a message, got {other:?}"),
    }
    let newest = h
        .store
        .timeline(PAGE, "t-1", TimelineOrder::NewestFirst, 4, None)
        .await
        .unwrap();
    assert_eq!(newest.items.len(), 4);
    assert_eq!(newest.items[0].at, T0 + 9);
    assert_eq!(newest.items[3].at, T0 + 6);
    let next = h
        .store
        .timeline(
            PAGE,
            "t-1",
            TimelineOrder::NewestFirst,
            4,
            newest.next_cursor.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(next.items[0].at, T0 + 5);
}

async fn messaging_and_standby_copies_make_one_message(h: Harness) {
    // Meta delivers a customer message to the owner on messaging and to the other app on
    // standby; both reach us.
    deliver(&h, BOT, "messaging", message("s-1", T0, "s1-m", "hi")).await;
    deliver(&h, INBOX, "standby", message("s-1", T0, "s1-m", "hi")).await;
    let conversation = state(&h, "s-1").await;
    assert_eq!(conversation.owner.app_id.as_deref(), Some(BOT));
    assert!(!conversation.needs_resync);
    assert_eq!(messages(&all_timeline(&h, "s-1").await), 1);
}

async fn a_new_conversation_whose_standby_copy_comes_first_publishes_one_event(h: Harness) {
    // The customer's first message: the inbox's standby copy reaches us before the bot's
    // messaging copy. Meta gave the idle thread to the Page's default app, our bot.
    let bus = Arc::new(RecordingBus::new());
    let publisher = EventPublisher::new(bus.clone());
    let mut before = None;
    let copies = [(INBOX, "standby"), (BOT, "messaging")];
    for (seq, (app, list)) in copies.into_iter().enumerate() {
        deliver(&h, app, list, message("s-2", T0, "s2-m", "hi")).await;
        let after = state(&h, "s-2").await;
        let change = RecordChange {
            id: seq.to_string(),
            old: before.replace(after.clone()),
            new: Some(after),
        };
        assert!(publisher.publish(&[change]).await.failed.is_empty());
    }
    let conversation = state(&h, "s-2").await;
    assert_eq!(conversation.owner.app_id.as_deref(), Some(BOT));
    assert!(!conversation.needs_resync);
    let published = bus.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(
        (
            published[0].from.role.as_str(),
            published[0].to.role.as_str()
        ),
        ("idle", "bot")
    );
    let controls: Vec<_> = all_timeline(&h, "s-2")
        .await
        .into_iter()
        .filter(|e| matches!(e.record, Happening::Control { .. }))
        .collect();
    assert_eq!(controls.len(), 1, "{controls:?}");
}

async fn postback_copies_make_one_entry_keeping_the_payload(h: Harness) {
    // The messaging copy (with payload and mid) and the standby copy (title only) of one
    // tap, in both orders: one timeline entry, with the payload.
    for (psid, order) in [
        ("pb-1", ["messaging", "standby"]),
        ("pb-2", ["standby", "messaging"]),
    ] {
        for list in order {
            let (app, value) = if list == "messaging" {
                (
                    BOT,
                    postback(psid, T0, "Talk to human", Some("TALK_TO_HUMAN")),
                )
            } else {
                let mut copy = postback(psid, T0, "Talk to human", None);
                copy["postback"].as_object_mut().unwrap().remove("mid");
                (INBOX, copy)
            };
            deliver(&h, app, list, value).await;
        }
        let timeline = all_timeline(&h, psid).await;
        let taps: Vec<_> = timeline
            .iter()
            .filter_map(|e| match &e.record {
                Happening::Message { payload, .. } => Some(payload.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(taps, vec![Some("TALK_TO_HUMAN".to_string())], "{psid}");
    }
}

// ---- DynamoDB's item-size limit and quarantine ---------------------------------------------

/// A validly shaped body of about `size` bytes: `events`, padded with an entry field Meta
/// does not send.
fn padded_body(events: Vec<Value>, size: usize) -> Vec<u8> {
    let mut body = envelope("messaging", events);
    body["entry"][0]["padding"] = Value::String("x".repeat(size));
    bytes(&body)
}

async fn an_item_over_400_kb_is_refused_like_dynamodb(h: Harness) {
    let mut state = Conversation::new(PAGE, "big-1", T0);
    state.version = 1;
    let entry = TimelineEntry::new(
        T0,
        "e1",
        Happening::Message {
            author: Author::Customer,
            mid: Some("m1".into()),
            app_id: None,
            text: Some("x".repeat(410 * 1024)),
            payload: None,
            attachments: 0,
        },
    );
    let write = ConversationWrite {
        expected_version: 0,
        state,
        timeline: vec![entry],
        applied_key: None,
        more_applied_keys: Vec::new(),
        lease: LeaseChange::Unchanged,
        timeline_expires_at: T0 / 1000 + 60,
        applied_keys_expire_at: 0,
    };
    let refused = h.store.write(write).await;
    assert!(
        matches!(refused, Err(StoreError::TooLarge(_))),
        "{refused:?}"
    );
    assert!(
        h.store.conversation(PAGE, "big-1").await.unwrap().is_none(),
        "all or nothing"
    );
}

async fn a_transaction_over_100_items_is_refused_like_dynamodb(h: Harness) {
    let mut state = Conversation::new(PAGE, "big-3", T0);
    state.version = 1;
    let timeline = (0..100)
        .map(|i| {
            TimelineEntry::new(
                T0 + i,
                &format!("e{i}"),
                Happening::Message {
                    author: Author::Customer,
                    mid: Some(format!("m{i}")),
                    app_id: None,
                    text: Some("hi".into()),
                    payload: None,
                    attachments: 0,
                },
            )
        })
        .collect();
    let write = ConversationWrite {
        expected_version: 0,
        state,
        timeline,
        applied_key: Some("d1".into()),
        more_applied_keys: Vec::new(),
        lease: LeaseChange::Unchanged,
        timeline_expires_at: T0 / 1000 + 60,
        applied_keys_expire_at: T0 / 1000 + 60,
    };
    let refused = h.store.write(write).await;
    assert!(
        matches!(&refused, Err(StoreError::TooLarge(why)) if why.contains("items")),
        "102 items: {refused:?}"
    );
    assert!(h.store.conversation(PAGE, "big-3").await.unwrap().is_none());
}

async fn a_large_unparseable_body_is_quarantined_truncated(h: Harness) {
    let mut body = padded_body(vec![message("big-2", T0, "m1", "hi")], 350 * 1024);
    body.truncate(body.len() - 3); // no longer JSON
    let report = h.ingest.ingest(BOT, &body).await.expect("not a 500");
    assert!(report.quarantined, "{report:?}");
    let kept = h.store.quarantined(BOT).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body_len, body.len());
    assert_eq!(
        kept[0].body,
        body[..QUARANTINE_BODY_BYTES],
        "kept truncated"
    );
    assert_eq!(kept[0].body_sha256, sha256_hex(&body));
}

async fn a_large_body_with_a_rejected_event_still_applies_the_rest(h: Harness) {
    let broken = json!({"sender": {"id": "big-3"}, "recipient": {"id": PAGE}, "timestamp": T0, "message": "not an object"});
    let body = padded_body(vec![message("big-3", T0, "m1", "hi"), broken], 350 * 1024);
    let report = h.ingest.ingest(BOT, &body).await.expect("not a 500");
    assert_eq!((report.written, report.rejected), (1, 1), "{report:?}");
    assert!(report.quarantined);
    let kept = h.store.quarantined(BOT).await.unwrap();
    assert!(
        kept[0].reason.contains("message is not an object"),
        "{}",
        kept[0].reason
    );
    assert!(kept[0].body.len() <= QUARANTINE_BODY_BYTES);
}

async fn events_for_pages_not_configured_are_counted_not_stored(h: Harness) {
    let mut body = envelope(
        "messaging",
        vec![message("big-4", T0, "m1", "my card number")],
    );
    body["entry"][0]["id"] = json!("999");
    body["entry"][0]["messaging"][0]["recipient"]["id"] = json!("999");
    let report = h.ingest.ingest(BOT, &bytes(&body)).await.unwrap();
    assert_eq!(report.unknown_pages, 1, "{report:?}");
    assert!(!report.quarantined, "the customers' text is not kept");
    assert!(h.store.quarantined(BOT).await.unwrap().is_empty());
    assert!(h
        .store
        .conversation("999", "big-4")
        .await
        .unwrap()
        .is_none());
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body))
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::memory()).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::dynamo().await).await;
                }
            )*
        }
    };
}

scenarios!(
    duplicate_delivery_is_applied_once,
    out_of_order_control_events_keep_the_newest,
    batch_of_100_events_over_20_conversations,
    concurrent_writers_lose_no_update,
    a_large_batch_to_one_conversation_is_applied_in_order_once_in_chunks,
    a_batch_overlapping_stored_events_applies_only_the_new_ones,
    concurrent_deliveries_of_one_batch_apply_each_event_once,
    stale_writes_are_refused_and_change_nothing,
    a_duplicate_write_writes_nothing,
    the_queue_lists_inbox_conversations_newest_first,
    leases_follow_control_and_are_found_when_due,
    quarantine_keeps_the_exact_body,
    timeline_pages_both_ways_and_keeps_text,
    messaging_and_standby_copies_make_one_message,
    a_new_conversation_whose_standby_copy_comes_first_publishes_one_event,
    postback_copies_make_one_entry_keeping_the_payload,
    an_item_over_400_kb_is_refused_like_dynamodb,
    a_transaction_over_100_items_is_refused_like_dynamodb,
    a_large_unparseable_body_is_quarantined_truncated,
    a_large_body_with_a_rejected_event_still_applies_the_rest,
    events_for_pages_not_configured_are_counted_not_stored,
);

/// DynamoDB requests per event, counted by an SDK interceptor: the budget is one read and
/// one write per event in the common case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_on_moto_requests_per_event() {
    let counter = RequestCounter::new();
    let h = harness_with(Arc::new(dynamo_store(TABLES, Some(counter.clone())).await));
    counter.reset();
    deliver(&h, BOT, "messaging", message("r-1", T0, "r1-m", "hello")).await;
    let message_ops = counter.by_operation();
    counter.reset();
    deliver(
        &h,
        INBOX,
        "messaging",
        pass("r-1", T0 + 10, Some(BOT), INBOX),
    )
    .await;
    let handover_ops = counter.by_operation();
    counter.reset();
    deliver(&h, INBOX, "messaging", read("r-1", T0 + 20)).await;
    let read_total = counter.total();
    eprintln!(
        "dynamodb requests per event: message {message_ops:?}; handover {handover_ops:?}; read {read_total}"
    );
    for ops in [&message_ops, &handover_ops] {
        assert_eq!(ops.get("GetItem"), Some(&1), "{ops:?}");
        assert_eq!(ops.get("TransactWriteItems"), Some(&1), "{ops:?}");
        assert_eq!(ops.values().sum::<u64>(), 2, "{ops:?}");
    }
    assert_eq!(read_total, 0, "a read receipt touches nothing");
}

/// A delivery of 100 events to each of two conversations: per conversation one read of
/// the record, one BatchGetItem of the applied-event keys and a few transactions, not two
/// requests per event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_on_moto_requests_for_a_batch() {
    let counter = RequestCounter::new();
    let h = harness_with(Arc::new(dynamo_store(TABLES, Some(counter.clone())).await));
    let mut body = one_conversation_batch("rb-1", 0, 100);
    let more = one_conversation_batch("rb-2", 0, 100);
    if let (Some(entries), Some(others)) = (body["entry"].as_array_mut(), more["entry"].as_array())
    {
        entries.extend(others.iter().cloned());
    }
    counter.reset();
    let report = post(&h, BOT, body).await;
    assert_eq!(report.written, 200);
    let ops = counter.by_operation();
    eprintln!("dynamodb requests for 200 events over 2 conversations: {ops:?}");
    assert_eq!(ops.get("BatchGetItem"), Some(&2), "{ops:?}");
    let transactions = ops.get("TransactWriteItems").copied().unwrap_or(0);
    assert!((4..=8).contains(&transactions), "{ops:?}");
    assert!(ops.values().sum::<u64>() <= 16, "{ops:?}");
}
