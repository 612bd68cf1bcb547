//! Fairness of the scheduled work, against both stores (MemoryStore, and DynamoStore on
//! moto), with a scripted Graph API: a rate limit of one Facebook Page stops only that
//! Page's work in the timed-reset sweep and the re-sync batch, and both visit their index
//! shards in rotating order, so that no shard is always last.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use routing_core::store::{lease_shard, resync_shard};
use routing_domain::{Conversation, FixedClock, Owner, OwnerRole};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::ports::{ConversationWrite, GraphError, LeaseChange, Store};
use routing_usecases::records::Records;
use routing_usecases::resync::{Resync, ResyncLimits};
use routing_usecases::testing::{config_json, ScriptedGraph, INBOX, PAGE};
use routing_usecases::timed_reset::{SweepLimits, TimedReset};
use serde_json::json;

use crate::support::{dynamo, memory};

/// The second Page.
const PAGE_B: &str = "222";
/// The prefix of the moto tables' names.
const TABLES: &str = "fairness";

struct Fixture {
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    graph: Arc<ScriptedGraph>,
    reset: TimedReset,
    resync: Resync,
}

/// Two Pages, our bot and inbox apps on both.
fn two_pages() -> Arc<CoordinatorConfig> {
    let mut doc = config_json();
    let mut second = doc["pages"][0].clone();
    second["id"] = json!(PAGE_B);
    doc["pages"].as_array_mut().unwrap().push(second);
    for app in doc["apps"].as_array_mut().unwrap() {
        let token = app["page_tokens"][PAGE].clone();
        app["page_tokens"][PAGE_B] = token;
    }
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid config"))
}

fn fixture(store: Arc<dyn Store>) -> Fixture {
    // On a minute's first second, so that advancing by a minute moves the sweep's shard.
    let now = 1_800_000_012_345 - 1_800_000_012_345 % 60_000;
    let clock = Arc::new(FixedClock::at(now));
    let graph = Arc::new(ScriptedGraph::new());
    let records = Records::new(two_pages(), store.clone(), clock.clone());
    Fixture {
        store,
        clock: clock.clone(),
        graph: graph.clone(),
        reset: TimedReset::new(records.clone(), graph.clone()),
        resync: Resync::new(records, graph),
    }
}

impl Fixture {
    fn now(&self) -> i64 {
        use routing_domain::Clock;
        self.clock.now_millis()
    }

    /// The inbox holds the thread; its lease was due `overdue` seconds ago; `flagged`:
    /// marked for re-sync.
    async fn leased(&self, page_id: &str, psid: &str, overdue: i64, flagged: bool) {
        let now = self.now();
        let mut state = Conversation::new(page_id, psid, now - 3_600_000);
        state.owner = Owner::app(INBOX, OwnerRole::Inbox);
        state.version = 1;
        state.needs_resync = flagged;
        state.control_expires_at = Some(now / 1000 - overdue);
        let due = now / 1000 - overdue;
        self.store
            .write(ConversationWrite {
                expected_version: 0,
                lease: LeaseChange::Set { due },
                state,
                timeline: Vec::new(),
                applied_key: None,
                more_applied_keys: Vec::new(),
                timeline_expires_at: now / 1000 + 86_400,
                applied_keys_expire_at: 0,
            })
            .await
            .unwrap();
    }

    async fn record(&self, page_id: &str, psid: &str) -> Conversation {
        self.store
            .conversation(page_id, psid)
            .await
            .unwrap()
            .unwrap()
    }

    fn calls_for(&self, page_id: &str) -> Vec<String> {
        self.graph
            .calls()
            .into_iter()
            .filter(|c| c.page_id == page_id)
            .map(|c| c.psid)
            .collect()
    }
}

fn sweep_limits() -> SweepLimits {
    SweepLimits {
        stop_at: Instant::now() + Duration::from_secs(120),
        concurrency: 1,
        page_size: 100,
    }
}

fn batch_limits() -> ResyncLimits {
    ResyncLimits {
        stop_at: Instant::now() + Duration::from_secs(120),
        rate_per_second: 1000,
        lease_slice: 0,
    }
}

/// `count` psids starting with `prefix`, at least two in every shard of `shard_of`.
fn psids_in_every_shard(prefix: &str, shard_of: fn(&str) -> String) -> Vec<String> {
    let mut per_shard = std::collections::BTreeMap::<String, usize>::new();
    let mut psids = Vec::new();
    for i in 0.. {
        let psid = format!("{prefix}{i:03}");
        let n = per_shard.entry(shard_of(&psid)).or_default();
        if *n < 2 {
            *n += 1;
            psids.push(psid);
        }
        if per_shard.len() == 4 && per_shard.values().all(|n| *n == 2) {
            return psids;
        }
    }
    unreachable!()
}

// ---- scenarios ------------------------------------------------------------------------

async fn a_rate_limited_page_stops_only_its_own_leases(store: Arc<dyn Store>) {
    let f = fixture(store);
    // Page A's leases are the most overdue: each comes first in its shard.
    let limited = ["91000", "91001"];
    for psid in limited {
        f.leased(PAGE, psid, 600, false).await;
    }
    let others = psids_in_every_shard("92", lease_shard);
    for psid in &others {
        f.leased(PAGE_B, psid, 60, false).await;
    }
    f.graph
        .fail_page(PAGE, GraphError::RateLimited { code: 32 });

    let report = f.reset.sweep(sweep_limits()).await.unwrap();
    assert_eq!(report.reset, others.len() as u64, "{report:?}");
    assert_eq!(
        (
            report.pages_rate_limited,
            report.deferred,
            report.rate_limited
        ),
        (1, 1, false),
        "{report:?}"
    );
    assert_eq!(
        f.calls_for(PAGE).len(),
        1,
        "no more calls for the limited Page"
    );
    for psid in &others {
        assert_eq!(f.record(PAGE_B, psid).await.owner, Owner::idle(), "{psid}");
    }
    for psid in limited {
        let record = f.record(PAGE, psid).await;
        assert!(record.control_expires_at.is_some(), "{psid}: still due");
        assert_eq!(record.reset_claimed_at, None, "{psid}: no claim left");
    }
}

async fn an_app_wide_rate_limit_still_stops_the_sweep(store: Arc<dyn Store>) {
    let f = fixture(store);
    let psids = psids_in_every_shard("93", lease_shard);
    for psid in &psids {
        f.leased(PAGE_B, psid, 60, false).await;
    }
    f.graph
        .fail_page(PAGE_B, GraphError::RateLimited { code: 4 });
    let report = f.reset.sweep(sweep_limits()).await.unwrap();
    assert!(report.rate_limited && report.stopped_early, "{report:?}");
    assert_eq!(f.graph.calls().len(), 1, "{report:?}");
}

async fn the_sweep_starts_with_another_shard_each_minute(store: Arc<dyn Store>) {
    let f = fixture(store);
    let psids = psids_in_every_shard("94", lease_shard);
    for psid in &psids {
        f.leased(PAGE_B, psid, 60, false).await;
    }
    // Meta stops every sweep at its first reset: only the first shard's lease is tried.
    f.graph
        .fail_page(PAGE_B, GraphError::RateLimited { code: 4 });
    let mut first_tried = BTreeSet::new();
    for _ in 0..4 {
        let before = f.graph.calls().len();
        let report = f.reset.sweep(sweep_limits()).await.unwrap();
        let calls = f.graph.calls();
        assert_eq!(calls.len(), before + 1, "{report:?}");
        first_tried.insert(lease_shard(&calls[before].psid));
        f.clock.advance_secs(60);
    }
    assert_eq!(
        first_tried.len(),
        4,
        "every shard came first once: {first_tried:?}"
    );
}

async fn a_rate_limited_page_stops_only_its_own_resyncs(store: Arc<dyn Store>) {
    let f = fixture(store);
    let limited = ["95000", "95001", "95002"];
    for psid in limited {
        f.leased(PAGE, psid, -3600, true).await;
        f.clock.advance_secs(1);
    }
    let others = psids_in_every_shard("96", resync_shard);
    for psid in &others {
        f.leased(PAGE_B, psid, -3600, true).await;
        f.clock.advance_secs(1);
    }
    f.graph
        .fail_page(PAGE, GraphError::RateLimited { code: 80_006 });

    let report = f.resync.batch(batch_limits()).await;
    assert_eq!(report.changed, others.len() as u64, "{report:?}");
    assert_eq!(
        (report.pages_rate_limited, report.rate_limited),
        (1, false),
        "{report:?}"
    );
    assert_eq!(
        f.calls_for(PAGE).len(),
        1,
        "no more calls for the limited Page"
    );
    for psid in &others {
        let record = f.record(PAGE_B, psid).await;
        assert!(!record.needs_resync, "{psid}: re-synced");
    }
    for psid in limited {
        assert!(f.record(PAGE, psid).await.needs_resync, "{psid}: waits");
    }
}

async fn the_batch_starts_with_another_shard_each_run(store: Arc<dyn Store>) {
    let f = fixture(store);
    let psids = psids_in_every_shard("97", resync_shard);
    for psid in &psids {
        f.leased(PAGE_B, psid, -3600, true).await;
    }
    f.graph
        .fail_page(PAGE_B, GraphError::RateLimited { code: 4 });
    let mut first_tried = BTreeSet::new();
    for _ in 0..4 {
        let before = f.graph.calls().len();
        let report = f.resync.batch(batch_limits()).await;
        let calls = f.graph.calls();
        assert_eq!(calls.len(), before + 1, "{report:?}");
        first_tried.insert(resync_shard(&calls[before].psid));
        f.clock.advance_secs(300);
    }
    assert_eq!(
        first_tried.len(),
        4,
        "every shard came first once: {first_tried:?}"
    );
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
    a_rate_limited_page_stops_only_its_own_leases,
    an_app_wide_rate_limit_still_stops_the_sweep,
    the_sweep_starts_with_another_shard_each_minute,
    a_rate_limited_page_stops_only_its_own_resyncs,
    the_batch_starts_with_another_shard_each_run,
);
