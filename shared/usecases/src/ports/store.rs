//! The storage port: what the services need from storage, as one narrow trait over
//! conversation records, timelines, leases, applied-event keys and quarantined bodies.
//! Adapters: `store::DynamoStore` and `store::MemoryStore` (one scenario suite runs against
//! both).

use std::collections::HashSet;
use std::ops::RangeInclusive;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::IdempotencyKeys;
use routing_domain::{Conversation, EpochMillis, EpochSeconds, OwnerRole, TimelineEntry};

/// How many partitions the lease index spreads leases over (the sweep queries each).
pub const LEASE_SHARDS: u32 = 4;
/// How many partitions the re-sync index spreads flagged conversations over.
pub const RESYNC_SHARDS: u32 = 4;
/// Most items one listing answer holds.
pub const MAX_PAGE_SIZE: u32 = 200;

/// What happens to the lease item in a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChange {
    Unchanged,
    Set { due: EpochSeconds },
    Remove,
}

impl LeaseChange {
    /// The lease change that takes the record from `before` to `after`.
    pub fn between(before: Option<EpochSeconds>, after: Option<EpochSeconds>) -> Self {
        match (before, after) {
            (b, Some(due)) if b != Some(due) => LeaseChange::Set { due },
            (Some(_), None) => LeaseChange::Remove,
            _ => LeaseChange::Unchanged,
        }
    }
}

/// One atomic write: the record (conditional on its version), the timeline entries, the
/// lease, and the applied-event keys, all or nothing. A write of several events of one
/// conversation (ingest's batches) carries the first event's key in `applied_key` and the
/// others' in `more_applied_keys`; it is refused as a duplicate when any of them exists.
#[derive(Clone, Debug)]
pub struct ConversationWrite {
    /// The version read (0: the record must not exist yet).
    pub expected_version: u64,
    /// The new record; its `version` is `expected_version + 1`.
    pub state: Conversation,
    pub timeline: Vec<TimelineEntry>,
    /// The applied-event key: the write is refused as a duplicate when it exists.
    pub applied_key: Option<String>,
    /// The applied-event keys of the further events of a batch (distinct).
    pub more_applied_keys: Vec<String>,
    pub lease: LeaseChange,
    /// TTL of the timeline entries and of the applied-event key.
    pub timeline_expires_at: EpochSeconds,
    pub applied_keys_expire_at: EpochSeconds,
}

impl ConversationWrite {
    /// Every applied-event key of the write.
    pub fn applied_keys(&self) -> impl Iterator<Item = &String> {
        self.applied_key.iter().chain(self.more_applied_keys.iter())
    }

    /// Stamp the write with its token (at most 36 characters: DynamoDB's
    /// `ClientRequestToken` limit), unique to this write: the SDK's retries of it carry the
    /// same token, and the record stored by it names it, so a writer whose answer was lost
    /// recognises its own write.
    pub fn stamped(mut self, token: String) -> Self {
        self.state.write_token = Some(token);
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The applied-event key already existed: the event was applied before; nothing was written.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read; read again and decide again.
    #[error("the conversation changed since it was read (version conflict)")]
    VersionConflict,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("storage request failed: {0}")]
    Backend(String),
    #[error("stored item could not be decoded: {0}")]
    Corrupt(String),
    /// DynamoDB's item or transaction limits (400 KB an item) refuse the write.
    #[error("too large to store: {0}")]
    TooLarge(String),
}

impl StoreError {
    /// Worth retrying after a short wait (throttling, transient service errors).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::VersionConflict | StoreError::Backend(_))
    }
}

/// One page of results of a listing (not a Facebook Page); `next_cursor` is opaque and
/// `None` at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Listing<T> {
    /// No items and nothing after (e.g. a shard number past the last shard).
    pub fn empty() -> Self {
        Listing {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimelineOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueQuery {
    pub page_id: String,
    pub role: OwnerRole,
    pub unread_only: bool,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// A lease whose deadline has passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueLease {
    pub page_id: String,
    pub psid: String,
    pub due: EpochSeconds,
}

/// A validly signed body that could not be (wholly) applied, kept for inspection: its
/// first bytes (all of it when small), its length and SHA-256, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedBody {
    pub app_id: String,
    pub received_at: EpochMillis,
    pub body: Vec<u8>,
    /// The length of the body as received (`body` may hold only its first bytes).
    pub body_len: usize,
    /// Hex SHA-256 of the body as received.
    pub body_sha256: String,
    pub reason: String,
    pub expires_at: EpochSeconds,
}

/// Conversation records and everything kept beside them, idempotency keys included.
#[async_trait]
pub trait Store: IdempotencyKeys + Send + Sync {
    /// The record, read strongly consistently.
    async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, StoreError>;

    /// Apply one atomic write (see [`ConversationWrite`]).
    async fn write(&self, write: ConversationWrite) -> Result<WriteOutcome, StoreError>;

    /// Which of these applied-event keys of one conversation are stored, read strongly
    /// consistently (ingest reads a batch's keys once instead of trying each event).
    async fn applied(
        &self,
        page_id: &str,
        psid: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError>;

    async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<TimelineEntry>, StoreError>;

    /// Conversations of a Page held by `role`, newest activity first, from an index.
    async fn queue(&self, query: &QueueQuery) -> Result<Listing<Conversation>, StoreError>;

    /// Leases of one shard due within `due` (both ends included), earliest first, from an
    /// index. The sweep asks for `EpochSeconds::MIN..=now`; the re-sync batch for a slice
    /// starting anywhere in the future.
    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<DueLease>, StoreError>;

    /// Conversations of one shard flagged `needs_resync`, longest-flagged first, from an
    /// index.
    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<Conversation>, StoreError>;

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError>;

    /// Quarantined bodies of one app, oldest first (inspection and tests).
    async fn quarantined(&self, app_id: &str) -> Result<Vec<QuarantinedBody>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_change_between_states() {
        assert_eq!(LeaseChange::between(None, None), LeaseChange::Unchanged);
        assert_eq!(
            LeaseChange::between(Some(5), Some(5)),
            LeaseChange::Unchanged
        );
        assert_eq!(
            LeaseChange::between(Some(5), Some(9)),
            LeaseChange::Set { due: 9 }
        );
        assert_eq!(
            LeaseChange::between(None, Some(9)),
            LeaseChange::Set { due: 9 }
        );
        assert_eq!(LeaseChange::between(Some(5), None), LeaseChange::Remove);
    }
}
