//! Details of the HTTP contract: the subscription handshake refuses a wrong `hub.mode`
//! with 403; 5xx bodies say what failed in our words (the SDK's text goes to the log
//! only); a malformed pagination cursor is a 400 `bad_cursor` on both stores, whatever
//! listing it is handed to.

use routing_core::meta::webhook::MetaWebhooks;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use routing_core::http::{webhook_api, ApiError};
use routing_core::meta::webhook::sign;
use routing_domain::{FixedClock, OwnerRole};
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::{QueueQuery, Store, StoreError, TimelineOrder};
use routing_usecases::records::Records;
use routing_usecases::testing::*;
use serde_json::Value;

use crate::support::{dynamo, memory};

const T0: i64 = 1_700_000_000_000;

fn ingest_over(store: Arc<dyn Store>) -> WebhookIngest {
    MetaWebhooks::ingest(Records::new(config(), store, Arc::new(FixedClock::at(T0))))
}

fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn the_handshake_refuses_a_wrong_or_missing_mode_with_403() {
    let ingest = ingest_over(memory());
    let path = format!("/webhook/{BOT}");
    for mode in [Some("unsubscribe"), Some(""), None] {
        let mut pairs = vec![("hub.verify_token", BOT_VERIFY), ("hub.challenge", "42")];
        if let Some(mode) = mode {
            pairs.push(("hub.mode", mode));
        }
        let reply = webhook_api::handle(&ingest, "GET", &path, &query(&pairs), None, b"").await;
        assert_eq!(reply.status, 403, "hub.mode {mode:?}: {}", reply.body);
        assert!(reply.body.contains("hub.mode"), "{}", reply.body);
    }
    let good = query(&[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", BOT_VERIFY),
        ("hub.challenge", "42"),
    ]);
    let reply = webhook_api::handle(&ingest, "GET", &path, &good, None, b"").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "42"));
}

#[tokio::test]
async fn a_storage_failure_answers_500_in_our_words() {
    let faults = Arc::new(FaultyStore::new(memory()));
    faults.fail_writes_of("u1");
    let ingest = ingest_over(faults);
    let body = bytes(&envelope("messaging", vec![message("u1", T0, "m1", "hi")]));
    let signature = sign(BOT_SECRET.as_bytes(), &body);
    let path = format!("/webhook/{BOT}");
    let reply = webhook_api::handle(
        &ingest,
        "POST",
        &path,
        &HashMap::new(),
        Some(&signature),
        &body,
    )
    .await;
    assert_eq!(reply.status, 500);
    let error: Value = serde_json::from_str(&reply.body).unwrap();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !reply.body.contains("injected"),
        "the store's own text: {}",
        reply.body
    );
    assert!(message.contains("could not be stored"), "{message}");
}

#[test]
fn five_hundreds_never_carry_the_backends_text() {
    let sdk = "dispatch failure: io error: connection refused (os error 111) at 10.0.3.7:8000";
    for err in [
        StoreError::Backend(sdk.into()),
        StoreError::Corrupt(sdk.into()),
    ] {
        let api = ApiError::from(&err);
        assert!(api.status >= 500, "{api:?}");
        assert!(!api.message.contains("10.0.3.7"), "{}", api.message);
    }
}

/// Cursors that are not ours: not base64, not JSON, JSON of another shape, and a real
/// cursor of another listing.
fn bad_cursors(foreign: &str) -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    vec![
        "%%%".into(),
        b64("not json"),
        b64("[[\"pk\",\"QUARANTINE#1\",false]]"),
        b64("[[\"nope\",\"1\",true],[\"sk\",\"x\",false]]"),
        b64("{\"a\":1}"),
        b64("\"TL#x\""),
        foreign.to_string(),
    ]
}

async fn malformed_cursors_are_bad_cursor(store: Arc<dyn Store>) {
    let ingest = ingest_over(store.clone());
    for (i, psid) in ["c1", "c2", "c3"].iter().enumerate() {
        let t = T0 + i as i64;
        let body = bytes(&envelope(
            "messaging",
            vec![
                pass(psid, t, Some(BOT), INBOX),
                message(psid, t + 1, &format!("m{i}"), "x"),
            ],
        ));
        ingest.ingest(INBOX, &body).await.unwrap();
    }
    let queue = |cursor: Option<String>| QueueQuery {
        page_id: PAGE.into(),
        role: OwnerRole::Inbox,
        unread_only: false,
        limit: 1,
        cursor,
    };
    // A real cursor of the queue, handed to the timeline (and the other way round).
    let queue_cursor = store
        .queue(&queue(None))
        .await
        .unwrap()
        .next_cursor
        .expect("more");
    let timeline_cursor = store
        .timeline(PAGE, "c1", TimelineOrder::OldestFirst, 1, None)
        .await
        .unwrap()
        .next_cursor
        .expect("more");
    for cursor in bad_cursors(&queue_cursor) {
        let got = store
            .timeline(PAGE, "c1", TimelineOrder::OldestFirst, 5, Some(&cursor))
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "timeline {cursor}: {got:?}"
        );
        let got = store.flagged_for_resync(0, 5, Some(&cursor)).await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "flagged {cursor}: {got:?}"
        );
        let got = store
            .due_leases(0, i64::MIN..=i64::MAX, 5, Some(&cursor))
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "leases {cursor}: {got:?}"
        );
    }
    for cursor in bad_cursors(&timeline_cursor) {
        let got = store.queue(&queue(Some(cursor.clone()))).await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "queue {cursor}: {got:?}"
        );
    }
    // Another conversation's timeline cursor.
    let got = store
        .timeline(
            PAGE,
            "c2",
            TimelineOrder::OldestFirst,
            5,
            Some(&timeline_cursor),
        )
        .await;
    assert!(
        matches!(got, Err(StoreError::InvalidCursor)),
        "another timeline: {got:?}"
    );
    assert_eq!(ApiError::from(&StoreError::InvalidCursor).status, 400);
}

#[tokio::test]
async fn memory_store_malformed_cursors_are_bad_cursor() {
    malformed_cursors_are_bad_cursor(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_on_moto_malformed_cursors_are_bad_cursor() {
    malformed_cursors_are_bad_cursor(dynamo("contract").await).await;
}
