//! Retention and privacy, against both stores (MemoryStore, and DynamoStore on moto):
//! quarantined bodies keep no message text of Pages that are not configured and are kept
//! no longer than the shortest `timeline_retention_days`; conversation records carry their
//! expiry (the table's TTL attribute), refreshed by activity; events name the customer and
//! the agent only where the Page opts in.

use routing_core::meta::webhook::MetaWebhooks;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use routing_core::store::{DynamoStore, MemoryStore};
use routing_domain::{events_between, FixedClock};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::Store;
use routing_usecases::records::Records;
use routing_usecases::testing::*;
use serde_json::{json, Value};

use crate::support::dynamo_store;

const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400;
/// A Page nobody configured.
const STRANGER: &str = "999";
const SECRET: &str = "my card number is 4111";

/// The table, when the store is DynamoDB's (its items are read raw).
struct Fixture {
    store: Arc<dyn Store>,
    table: Option<String>,
    clock: Arc<FixedClock>,
}

impl Fixture {
    fn ingest(&self, config: Arc<CoordinatorConfig>) -> WebhookIngest {
        MetaWebhooks::ingest(Records::new(config, self.store.clone(), self.clock.clone()))
    }

    fn records(&self, config: Arc<CoordinatorConfig>) -> Records {
        Records::new(config, self.store.clone(), self.clock.clone())
    }

    /// The record item's `ttl` attribute, read raw (DynamoDB only).
    async fn stored_ttl(&self, psid: &str) -> Option<Option<i64>> {
        let table = self.table.as_ref()?;
        let client = DynamoStore::local_client(dynamo_local::server().endpoint(), None);
        let item = client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("CONV#{PAGE}#{psid}")))
            .key("sk", AttributeValue::S("STATE".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the record item");
        Some(
            item.get("ttl")
                .and_then(|v| v.as_n().ok())
                .map(|n| n.parse().unwrap()),
        )
    }
}

fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        table: None,
        clock: Arc::new(FixedClock::at(T0 + 60_000)),
    }
}

async fn dynamo() -> Fixture {
    let store = dynamo_store("retention", None).await;
    let table = store.table().to_string();
    Fixture {
        store: Arc::new(store),
        table: Some(table),
        clock: Arc::new(FixedClock::at(T0 + 60_000)),
    }
}

fn config_with(edit: impl FnOnce(&mut Value)) -> Arc<CoordinatorConfig> {
    let mut doc = config_json();
    edit(&mut doc);
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid config"))
}

/// An event whose time is implausible: rejected, so its body is quarantined.
fn rejected_event(page: &str, text: &str) -> Value {
    json!({"sender": {"id": "q-1"}, "recipient": {"id": page}, "timestamp": 5,
           "message": {"mid": "m-bad", "text": text}})
}

fn stranger_message(text: &str) -> Value {
    json!({"sender": {"id": "q-2"}, "recipient": {"id": STRANGER}, "timestamp": T0,
           "message": {"mid": "m-stranger", "text": text}})
}

fn kept_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

// ---- scenarios ------------------------------------------------------------------------

async fn a_quarantined_body_keeps_no_text_of_pages_not_configured(f: Fixture) {
    let ingest = f.ingest(config());
    // One entry of our Page with a rejected event, one of a Page nobody configured.
    let body = envelope_of_entries(vec![
        json!({"id": PAGE, "time": T0, "messaging": [rejected_event(PAGE, "ours")]}),
        json!({"id": STRANGER, "time": T0, "messaging": [stranger_message(SECRET)]}),
    ]);
    let report = ingest.ingest(BOT, &bytes(&body)).await.unwrap();
    assert!(report.quarantined, "{report:?}");
    f.clock.advance_secs(1);
    // Only a Page nobody configured, its event rejected.
    let theirs = envelope_of_entries(vec![json!({"id": STRANGER, "time": T0,
        "messaging": [rejected_event(STRANGER, SECRET)]})]);
    assert!(
        ingest
            .ingest(BOT, &bytes(&theirs))
            .await
            .unwrap()
            .quarantined
    );
    f.clock.advance_secs(1);
    // Not JSON (cut short), naming no Page of ours.
    let cut = format!(
        "{{\"object\":\"page\",\"entry\":[{{\"id\":\"{STRANGER}\",\"messaging\":[{{\"message\":{{\"text\":\"{SECRET}"
    );
    assert!(
        ingest
            .ingest(BOT, cut.as_bytes())
            .await
            .unwrap()
            .quarantined
    );

    let kept = f.store.quarantined(BOT).await.unwrap();
    assert_eq!(kept.len(), 3);
    for (quarantined, received) in kept
        .iter()
        .zip([bytes(&body), bytes(&theirs), cut.into_bytes()])
    {
        let text = kept_text(&quarantined.body);
        assert!(!text.contains(SECRET), "message text kept: {text}");
        assert_eq!(
            quarantined.body_len,
            received.len(),
            "the length as received"
        );
    }
    let ours = kept_text(&kept[0].body);
    assert!(
        ours.contains("\"ours\""),
        "our Page's entry is kept: {ours}"
    );
    assert!(ours.contains(STRANGER), "the other Page is named: {ours}");
}

async fn quarantine_is_kept_no_longer_than_the_shortest_timeline_retention(f: Fixture) {
    let ingest = f.ingest(config_with(|doc| {
        doc["pages"][0]["timeline_retention_days"] = json!(3);
    }));
    let body = envelope("messaging", vec![rejected_event(PAGE, "late")]);
    assert!(ingest.ingest(BOT, &bytes(&body)).await.unwrap().quarantined);
    let kept = f.store.quarantined(BOT).await.unwrap();
    assert_eq!(kept[0].expires_at, (T0 + 60_000) / 1000 + 3 * DAY);
}

async fn an_idle_record_expires_and_activity_moves_its_expiry(f: Fixture) {
    let config = config_with(|doc| {
        doc["pages"][0]["idle_expiry_days"] = json!(30);
    });
    let ingest = f.ingest(config.clone());
    let u = "r-1";
    ingest
        .ingest(
            BOT,
            &bytes(&envelope("messaging", vec![message(u, T0, "m1", "hi")])),
        )
        .await
        .unwrap();
    let first = f.store.conversation(PAGE, u).await.unwrap().unwrap();
    let expiry = first.last_activity_at / 1000 + 30 * DAY;
    assert_eq!(first.expires_at, Some(expiry));
    if let Some(ttl) = f.stored_ttl(u).await {
        assert_eq!(ttl, Some(expiry), "the table's TTL attribute");
    }

    // Ten days later the customer writes again: the expiry moves.
    let later = T0 + 10 * DAY * 1000;
    f.clock.set(later + 1000);
    ingest
        .ingest(
            BOT,
            &bytes(&envelope(
                "messaging",
                vec![message(u, later, "m2", "again")],
            )),
        )
        .await
        .unwrap();
    let second = f.store.conversation(PAGE, u).await.unwrap().unwrap();
    assert!(second.last_activity_at > first.last_activity_at);
    let moved = second.last_activity_at / 1000 + 30 * DAY;
    assert_eq!(second.expires_at, Some(moved));
    if let Some(ttl) = f.stored_ttl(u).await {
        assert_eq!(ttl, Some(moved));
    }

    // A write that is no activity (flagging it for a re-sync) keeps it.
    f.clock.set(later + 5 * DAY * 1000);
    let flagged = f.records(config).flag_for_resync(PAGE, u).await.unwrap();
    assert_eq!(flagged.version, second.version + 1);
    assert_eq!(flagged.expires_at, Some(moved));
}

async fn by_default_a_record_expires_after_a_year_without_activity(f: Fixture) {
    let ingest = f.ingest(config());
    let u = "r-2";
    ingest
        .ingest(
            BOT,
            &bytes(&envelope("messaging", vec![message(u, T0, "m1", "hi")])),
        )
        .await
        .unwrap();
    let record = f.store.conversation(PAGE, u).await.unwrap().unwrap();
    assert_eq!(
        record.expires_at,
        Some(record.last_activity_at / 1000 + 365 * DAY)
    );
}

async fn events_name_the_customer_only_where_the_page_opts_in(f: Fixture) {
    let handed_over = |u: &str| {
        envelope(
            "messaging",
            vec![
                message(u, T0, &format!("m-{u}"), "hi"),
                pass(u, T0 + 1, Some(BOT), INBOX),
            ],
        )
    };
    let ingest = f.ingest(config());
    ingest
        .ingest(INBOX, &bytes(&handed_over("e-1")))
        .await
        .unwrap();
    let record = f.store.conversation(PAGE, "e-1").await.unwrap().unwrap();
    let event = events_between(None, &record).expect("a change of control");
    assert_eq!(
        (event.psid.as_deref(), event.agent.as_deref()),
        (None, None)
    );
    let alias = event.conversation.clone();
    assert!(alias.len() >= 16 && !alias.contains("e-1"), "{alias}");
    // The alias stays with the conversation.
    ingest
        .ingest(
            BOT,
            &bytes(&envelope(
                "messaging",
                vec![message("e-1", T0 + 5, "m-e-1b", "?")],
            )),
        )
        .await
        .unwrap();
    let later = f.store.conversation(PAGE, "e-1").await.unwrap().unwrap();
    assert_eq!(later.alias.as_deref(), Some(alias.as_str()));
    let detail = serde_json::to_string(&event).unwrap();
    assert!(!detail.contains("e-1"), "{detail}");

    let opted_in = f.ingest(config_with(|doc| {
        doc["pages"][0]["events_identify_people"] = json!(true);
    }));
    opted_in
        .ingest(INBOX, &bytes(&handed_over("e-2")))
        .await
        .unwrap();
    let record = f.store.conversation(PAGE, "e-2").await.unwrap().unwrap();
    let event = events_between(None, &record).expect("a change of control");
    assert_eq!(event.psid.as_deref(), Some("e-2"));
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
                    super::$name(super::dynamo().await).await;
                }
            )*
        }
    };
}

scenarios!(
    a_quarantined_body_keeps_no_text_of_pages_not_configured,
    quarantine_is_kept_no_longer_than_the_shortest_timeline_retention,
    an_idle_record_expires_and_activity_moves_its_expiry,
    by_default_a_record_expires_after_a_year_without_activity,
    events_name_the_customer_only_where_the_page_opts_in,
);
