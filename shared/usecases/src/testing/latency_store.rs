//! A `Store` with DynamoDB's latency: every request to the wrapped store (usually
//! `MemoryStore`) waits first, as long as the DynamoDB request it stands for takes (by
//! default 5 ms a read, 15 ms a transactional write, 10 ms a plain put), and is counted. The
//! ingest latency benchmark (`examples/ingest_latency.rs`) answers Meta's batched
//! deliveries through it.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{
    ConversationWrite, DueLease, IdempotencyKeys, KeyClaim, KeyUse, Listing, QuarantinedBody,
    QueueQuery, Store, StoreError, TimelineOrder, WriteOutcome,
};
use routing_domain::{Conversation, EpochSeconds, TimelineEntry};

/// How long each kind of request takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// `GetItem`, `Query`.
    pub read: Duration,
    /// `TransactWriteItems`.
    pub transact_write: Duration,
    /// `PutItem` (the quarantine).
    pub put: Duration,
}

impl Default for Latency {
    /// DynamoDB in the same region, as the budget assumes: 5 ms a strongly
    /// consistent read, 15 ms a transaction, 10 ms a put.
    fn default() -> Self {
        Latency {
            read: Duration::from_millis(5),
            transact_write: Duration::from_millis(15),
            put: Duration::from_millis(10),
        }
    }
}

/// Requests made through a [`LatencyStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub reads: u64,
    pub transact_writes: u64,
    pub puts: u64,
}

/// Wraps a store; every request waits its [`Latency`] before it is passed on.
pub struct LatencyStore {
    inner: Arc<dyn Store>,
    latency: Latency,
    reads: AtomicU64,
    transact_writes: AtomicU64,
    puts: AtomicU64,
}

impl LatencyStore {
    pub fn new(inner: Arc<dyn Store>, latency: Latency) -> Self {
        LatencyStore {
            inner,
            latency,
            reads: AtomicU64::new(0),
            transact_writes: AtomicU64::new(0),
            puts: AtomicU64::new(0),
        }
    }

    /// The requests made so far.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            transact_writes: self.transact_writes.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
        }
    }

    async fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency.read).await;
    }
}

#[async_trait]
impl IdempotencyKeys for LatencyStore {
    async fn claim_key(&self, record: &KeyUse, now: EpochSeconds) -> Result<KeyClaim, StoreError> {
        self.read().await;
        self.inner.claim_key(record, now).await
    }

    async fn complete_key(&self, record: &KeyUse) -> Result<(), StoreError> {
        self.read().await;
        self.inner.complete_key(record).await
    }

    async fn release_key(&self, page_id: &str, psid: &str, key: &str) -> Result<(), StoreError> {
        self.read().await;
        self.inner.release_key(page_id, psid, key).await
    }
}

#[async_trait]
impl Store for LatencyStore {
    async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        self.read().await;
        self.inner.conversation(page_id, psid).await
    }

    async fn write(&self, write: ConversationWrite) -> Result<WriteOutcome, StoreError> {
        self.transact_writes.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency.transact_write).await;
        self.inner.write(write).await
    }

    async fn applied(
        &self,
        page_id: &str,
        psid: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        // One BatchGetItem per 100 keys, sent one after another.
        for _ in keys.chunks(100) {
            self.read().await;
        }
        self.inner.applied(page_id, psid, keys).await
    }

    async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<TimelineEntry>, StoreError> {
        self.read().await;
        self.inner
            .timeline(page_id, psid, order, limit, cursor)
            .await
    }

    async fn queue(&self, query: &QueueQuery) -> Result<Listing<Conversation>, StoreError> {
        self.read().await;
        self.inner.queue(query).await
    }

    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<DueLease>, StoreError> {
        self.read().await;
        self.inner.due_leases(shard, due, limit, cursor).await
    }

    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<Conversation>, StoreError> {
        self.read().await;
        self.inner.flagged_for_resync(shard, limit, cursor).await
    }

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency.put).await;
        self.inner.quarantine(body).await
    }

    async fn quarantined(&self, app_id: &str) -> Result<Vec<QuarantinedBody>, StoreError> {
        self.read().await;
        self.inner.quarantined(app_id).await
    }
}
