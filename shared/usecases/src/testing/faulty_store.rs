//! A `Store` that fails on demand: writes of chosen conversations fail with a storage
//! error (before anything is written, as a throttled or timed-out DynamoDB request), so the
//! services' behaviour under partial failure can be tested on either real store.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::{
    ConversationWrite, DueLease, IdempotencyKeys, KeyClaim, KeyUse, Listing, QuarantinedBody,
    QueueQuery, Store, StoreError, TimelineOrder, WriteOutcome,
};
use routing_domain::{Conversation, EpochSeconds, TimelineEntry};

/// Wraps a store; `fail_writes_of(psid)` makes every write of that conversation fail.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    failing: Mutex<HashSet<String>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FaultyStore {
            inner,
            failing: Mutex::new(HashSet::new()),
        }
    }

    /// Every write of this conversation fails from now on.
    pub fn fail_writes_of(&self, psid: &str) {
        if let Ok(mut failing) = self.failing.lock() {
            failing.insert(psid.to_string());
        }
    }

    /// Writes succeed again.
    pub fn heal(&self) {
        if let Ok(mut failing) = self.failing.lock() {
            failing.clear();
        }
    }

    fn fails(&self, psid: &str) -> bool {
        self.failing.lock().is_ok_and(|f| f.contains(psid))
    }
}

#[async_trait]
impl IdempotencyKeys for FaultyStore {
    async fn claim_key(&self, record: &KeyUse, now: EpochSeconds) -> Result<KeyClaim, StoreError> {
        self.inner.claim_key(record, now).await
    }

    async fn complete_key(&self, record: &KeyUse) -> Result<(), StoreError> {
        self.inner.complete_key(record).await
    }

    async fn release_key(&self, page_id: &str, psid: &str, key: &str) -> Result<(), StoreError> {
        self.inner.release_key(page_id, psid, key).await
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        self.inner.conversation(page_id, psid).await
    }

    async fn write(&self, write: ConversationWrite) -> Result<WriteOutcome, StoreError> {
        if self.fails(&write.state.psid) {
            return Err(StoreError::Backend("injected: request timed out".into()));
        }
        self.inner.write(write).await
    }

    async fn applied(
        &self,
        page_id: &str,
        psid: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
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
        self.inner
            .timeline(page_id, psid, order, limit, cursor)
            .await
    }

    async fn queue(&self, query: &QueueQuery) -> Result<Listing<Conversation>, StoreError> {
        self.inner.queue(query).await
    }

    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<DueLease>, StoreError> {
        self.inner.due_leases(shard, due, limit, cursor).await
    }

    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<Conversation>, StoreError> {
        self.inner.flagged_for_resync(shard, limit, cursor).await
    }

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError> {
        self.inner.quarantine(body).await
    }

    async fn quarantined(&self, app_id: &str) -> Result<Vec<QuarantinedBody>, StoreError> {
        self.inner.quarantined(app_id).await
    }
}
