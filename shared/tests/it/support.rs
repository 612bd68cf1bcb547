//! The world the timed-reset and re-sync tests run in: a store (MemoryStore, or
//! DynamoStore on moto), the coordinator's `FixedClock` at the current time, the Messenger
//! Platform emulator playing the Graph API over real HTTP, and a `ControlService` with the
//! timed reset and the re-sync over them. The store scenarios use its stores and listings.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_core::store::{DynamoStore, MemoryStore, RequestCounter};
use routing_domain::{
    Cause, Clock, Conversation, FixedClock, Happening, Owner, OwnerRole, TimelineEntry,
};
use routing_usecases::config::{CoordinatorConfig, PagePolicy};
use routing_usecases::control::ControlService;
use routing_usecases::ports::{
    ConversationWrite, LeaseChange, Listing, Store, TimelineOrder, RESYNC_SHARDS,
};
use routing_usecases::records::Records;
use routing_usecases::resync::Resync;
use routing_usecases::testing::{config_json, BOT, INBOX, PAGE};
use routing_usecases::timed_reset::TimedReset;
use serde_json::{json, Value};

/// One control entry of the timeline: from, to, cause, event, metadata.
pub type ControlEntry = (Owner, Owner, Cause, String, Option<String>);

pub struct World {
    pub store: Arc<dyn Store>,
    pub clock: Arc<FixedClock>,
    pub emulator: RunningEmulator,
    pub http: reqwest::Client,
    pub control: ControlService,
    /// The timed reset and the re-sync over `control`.
    pub reset: TimedReset,
    pub resync: Resync,
    /// The coordinator's configuration the `control` service runs with.
    pub config: Arc<CoordinatorConfig>,
    /// The Page's window (`reset_after_secs`).
    pub window: i64,
}

/// The emulator's Page: our bot (the default app), our inbox, and another app.
pub fn emulator_config() -> EmulatorConfig {
    let doc = json!({
        "graph_version": "v23.0",
        "pages": [{"id": PAGE, "default_app_id": BOT, "apps": [
            {"id": BOT, "name": "bot", "app_secret": "s1", "page_token": "bot-page-token", "take_control": true},
            {"id": INBOX, "name": "inbox", "app_secret": "s2", "page_token": "inbox-page-token", "take_control": true},
            {"id": "3003", "name": "other", "app_secret": "s3", "page_token": "other-page-token", "take_control": true}
        ]}]
    });
    EmulatorConfig::from_json_str(&doc.to_string()).expect("emulator config")
}

/// The test configuration with the Page's window set to `window` seconds and, when given,
/// its `reset_action` (otherwise the test configuration's own).
pub fn coordinator_config(window: i64, reset_action: Option<&str>) -> Arc<CoordinatorConfig> {
    let mut doc = config_json();
    doc["pages"][0]["reset_after_secs"] = json!(window);
    if let Some(reset_action) = reset_action {
        doc["pages"][0]["reset_action"] = json!(reset_action);
    }
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid config"))
}

pub fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// A fresh table on moto, named from `prefix`; `counter` counts the client's requests.
pub async fn dynamo_store(prefix: &str, counter: Option<RequestCounter>) -> DynamoStore {
    let server = dynamo_local::server();
    let client = DynamoStore::local_client(server.endpoint(), counter);
    let store = DynamoStore::new(client, dynamo_local::unique_table_name(prefix));
    store.create_table().await.expect("table created on moto");
    store
}

pub async fn dynamo(prefix: &str) -> Arc<dyn Store> {
    Arc::new(dynamo_store(prefix, None).await)
}

/// Puts `items` straight into `table` on moto, 25 per `BatchWriteItem` (again what one
/// leaves unprocessed): set-up only, so that thousands of items take seconds.
pub async fn batch_put(table: &str, items: Vec<HashMap<String, AttributeValue>>) {
    let client = DynamoStore::local_client(dynamo_local::server().endpoint(), None);
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    for batch in requests.chunks(25) {
        let mut pending = Some(batch.to_vec());
        while let Some(requests) = pending.take().filter(|r| !r.is_empty()) {
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .expect("batch write on moto");
            pending = out.unprocessed_items.and_then(|mut u| u.remove(table));
        }
    }
}

/// Every item of a paged listing, reading `page(cursor)` from the start (`None`) until a
/// page has no next cursor.
pub async fn all_pages<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Listing<T>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = page(cursor).await;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

impl World {
    /// The psids flagged `needs_resync`, read through the `resync` index (every shard).
    pub async fn flagged(&self) -> Vec<String> {
        let mut all = Vec::new();
        for shard in 0..RESYNC_SHARDS {
            let store = &self.store;
            let flagged = all_pages(|cursor| async move {
                store
                    .flagged_for_resync(shard, 200, cursor.as_deref())
                    .await
                    .unwrap()
            })
            .await;
            all.extend(flagged.into_iter().map(|c| c.psid));
        }
        all
    }

    /// Starts the emulator and builds the control service over `store`, with the Page's
    /// window of `window` seconds and its `reset_action` (see `coordinator_config`).
    pub async fn start(store: Arc<dyn Store>, window: i64, reset_action: Option<&str>) -> World {
        let config = coordinator_config(window, reset_action);
        Self::start_with(store, config, RetryPolicy::fast(), emulator_config()).await
    }

    /// [`World::start`] with any configuration, the Graph client's retry policy and the
    /// emulator's configuration.
    pub async fn start_with(
        store: Arc<dyn Store>,
        config: Arc<CoordinatorConfig>,
        policy: RetryPolicy,
        emulator: EmulatorConfig,
    ) -> World {
        let emulator = Emulator::start(emulator, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("emulator starts");
        let graph = GraphClient::new(emulator.base_url(), "v23.0", policy).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let clock = Arc::new(FixedClock::at(now));
        let window = config.page(PAGE).map_or(86_400, |p| p.reset_after());
        let control = ControlService::new(
            Records::new(config.clone(), store.clone(), clock.clone()),
            Arc::new(graph),
        );
        World {
            store,
            clock,
            emulator,
            http: reqwest::Client::new(),
            reset: TimedReset::new(control.records().clone(), control.graph().clone()),
            resync: Resync::new(control.records().clone(), control.graph().clone()),
            control,
            config,
            window,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// The Page's configuration.
    pub fn page(&self) -> PagePolicy {
        self.config.page(PAGE).unwrap().clone()
    }

    pub async fn emulator_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/_emulator/{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "emulator {path}");
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn emulator_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_emulator/{path}", self.emulator.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Meta's owner of a thread (`None`: idle), set silently: no webhook reaches anyone,
    /// as when a human replies in Meta's inbox and the echo is lost.
    pub async fn set_true_owner(&self, psid: &str, owner: Option<&str>) {
        let response = self
            .http
            .put(format!(
                "{}/_emulator/threads/{PAGE}/{psid}",
                self.emulator.base_url()
            ))
            .json(&json!({"owner_app_id": owner, "expires_in_secs": 86400}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "emulator threads: {status} {:?}",
            response.text().await
        );
    }

    /// Meta's view of a thread: `owner_app_id`, `expires_at` (epoch seconds), ...
    pub async fn true_thread(&self, psid: &str) -> Value {
        self.emulator_get(&format!("threads/{PAGE}/{psid}")).await
    }

    /// Meta's owner (`None`: idle).
    pub async fn true_owner(&self, psid: &str) -> Option<String> {
        self.true_thread(psid).await["owner_app_id"]
            .as_str()
            .map(str::to_string)
    }

    /// The record says `owner` holds the thread (since a minute ago, with a lease due after
    /// the Page's window when away from the bot, unread when with humans); the customer
    /// wrote just now. `flagged`: marked for re-sync.
    pub async fn seed(&self, psid: &str, owner: Owner, flagged: bool) -> Conversation {
        self.seed_with_lease(psid, owner, flagged, None).await
    }

    /// `seed`, with the lease due at `lease_due` (epoch seconds) instead of after the
    /// Page's window.
    pub async fn seed_with_lease(
        &self,
        psid: &str,
        owner: Owner,
        flagged: bool,
        lease_due: Option<i64>,
    ) -> Conversation {
        let now = self.now();
        let mut state = Conversation::new(PAGE, psid, now);
        state.unread = owner.role.is_human();
        state.owner = owner;
        state.version = 1;
        state.last_customer_message_at = Some(now);
        state.last_control_event_at = Some(now - 60_000);
        state.last_control_event_key = Some(format!("seed:{psid}"));
        state.needs_resync = flagged;
        state.renew_lease(now, self.window);
        if lease_due.is_some() && state.control_expires_at.is_some() {
            state.control_expires_at = lease_due;
        }
        let lease = LeaseChange::between(None, state.control_expires_at);
        self.write(0, lease, state.clone(), Vec::new()).await;
        state
    }

    /// Writes `state` and `timeline` over the record at `expected_version` (0: creates
    /// it), moving its lease item as `lease` says; no applied-event key, timeline kept a day.
    pub async fn write(
        &self,
        expected_version: u64,
        lease: LeaseChange,
        state: Conversation,
        timeline: Vec<TimelineEntry>,
    ) {
        self.store
            .write(ConversationWrite {
                expected_version,
                lease,
                state,
                timeline,
                applied_key: None,
                more_applied_keys: Vec::new(),
                timeline_expires_at: self.now() / 1000 + 86400,
                applied_keys_expire_at: 0,
            })
            .await
            .unwrap();
    }

    /// Held by `owner` at Meta and in the record (see `seed`).
    pub async fn held_by(&self, psid: &str, owner: &str, role: OwnerRole) -> Conversation {
        self.set_true_owner(psid, Some(owner)).await;
        self.seed(psid, Owner::app(owner, role), false).await
    }

    pub async fn record(&self, psid: &str) -> Conversation {
        self.store.conversation(PAGE, psid).await.unwrap().unwrap()
    }

    /// The thread's control entries, oldest first.
    pub async fn control_entries(&self, psid: &str) -> Vec<ControlEntry> {
        let page = self
            .store
            .timeline(PAGE, psid, TimelineOrder::OldestFirst, 100, None)
            .await
            .unwrap();
        page.items
            .into_iter()
            .filter_map(|e| match e.record {
                Happening::Control {
                    from,
                    to,
                    cause,
                    event,
                    metadata,
                    ..
                } => Some((from, to, cause, event, metadata)),
                _ => None,
            })
            .collect()
    }
}
