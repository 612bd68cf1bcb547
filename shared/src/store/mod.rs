//! Storage of conversation records, timelines, leases, dedupe keys and quarantined
//! bodies, behind the [`Store`] trait. [`DynamoStore`] is the real one; [`MemoryStore`]
//! has the same semantics for fast unit tests (one scenario suite runs against both).
//!
//! Single-table layout (attribute names in the README):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | conversation record | `CONV#<page>#<psid>` | `STATE` |
//! | timeline entry | `CONV#<page>#<psid>` | `TL#<at ms, 13 digits>#<key>` |
//! | applied-event key | `CONV#<page>#<psid>` | `DEDUPE#<key>` |
//! | lease (timed reset) | `CONV#<page>#<psid>` | `LEASE` |
//! | quarantined body | `QUARANTINE#<app>` | `<received ms>#<sha256>` |

mod dynamo;
mod memory;

pub use dynamo::{schema, DynamoStore, RequestCounter};
pub use memory::MemoryStore;

use std::ops::RangeInclusive;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::domain::{Conversation, EpochMillis, EpochSeconds, OwnerRole, TimelineEntry};

/// How many partitions the lease index spreads leases over (the sweep queries each).
pub const LEASE_SHARDS: u32 = 4;
/// How many partitions the re-sync index spreads flagged conversations over.
pub const RESYNC_SHARDS: u32 = 4;
/// Largest page any listing returns.
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
/// lease, and the applied-event key, all or nothing.
#[derive(Clone, Debug)]
pub struct ConversationWrite {
    /// The version read (0: the record must not exist yet).
    pub expected_version: u64,
    /// The new record; its `version` is `expected_version + 1`.
    pub state: Conversation,
    pub timeline: Vec<TimelineEntry>,
    /// The applied-event key: the write is refused as a duplicate when it exists.
    pub dedupe_key: Option<String>,
    pub lease: LeaseChange,
    /// TTL of the timeline entries and of the dedupe key.
    pub timeline_expires_at: EpochSeconds,
    pub dedupe_expires_at: EpochSeconds,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The dedupe key already existed: the event was applied before; nothing was written.
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
}

impl StoreError {
    /// Worth retrying after a short wait (throttling, transient service errors).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::VersionConflict | StoreError::Backend(_))
    }
}

/// A page of a listing; `next_cursor` is opaque and `None` at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// No items and nothing after (e.g. a shard number past the last shard).
    pub fn empty() -> Self {
        Page {
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

/// A validly signed body that could not be parsed, kept for inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedBody {
    pub app_id: String,
    pub received_at: EpochMillis,
    pub body: Vec<u8>,
    pub reason: String,
    pub expires_at: EpochSeconds,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The record, read strongly consistently.
    async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, StoreError>;

    /// Apply one atomic write (see [`ConversationWrite`]).
    async fn write(&self, write: ConversationWrite) -> Result<WriteOutcome, StoreError>;

    async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<TimelineEntry>, StoreError>;

    /// Conversations of a Page held by `role`, newest activity first, from an index.
    async fn queue(&self, query: &QueueQuery) -> Result<Page<Conversation>, StoreError>;

    /// Leases of one shard due within `due` (both ends included), earliest first, from an
    /// index. The sweep asks for `EpochSeconds::MIN..=now`; the re-sync batch for a slice
    /// starting anywhere in the future.
    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<DueLease>, StoreError>;

    /// Conversations of one shard flagged `needs_resync`, longest-flagged first, from an
    /// index.
    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>, StoreError>;

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError>;

    /// Quarantined bodies of one app, oldest first (inspection and tests).
    async fn quarantined(&self, app_id: &str) -> Result<Vec<QuarantinedBody>, StoreError>;
}

// ---- keys shared by both stores -------------------------------------------------------

pub(crate) fn conversation_pk(page_id: &str, psid: &str) -> String {
    format!("CONV#{page_id}#{psid}")
}

pub(crate) fn timeline_sk(entry: &TimelineEntry) -> String {
    format!("TL#{:013}#{}", entry.at.max(0), entry.key)
}

pub(crate) fn queue_pk(page_id: &str, role: OwnerRole) -> String {
    format!("{page_id}#{}", role.as_str())
}

pub(crate) fn queue_sk(conversation: &Conversation) -> String {
    format!(
        "{:013}#{}",
        conversation.last_activity_at.max(0),
        conversation.psid
    )
}

fn shard_of(psid: &str, shards: u32) -> u32 {
    // FNV-1a: stable across processes and releases.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in psid.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % shards
}

/// The `leases` index partition of shard `shard` (stored: `LEASE#<n>`).
pub(crate) fn lease_partition(shard: u32) -> String {
    format!("LEASE#{shard}")
}

/// The `resync` index partition of shard `shard` (stored: `RESYNC#<n>`).
pub(crate) fn resync_partition(shard: u32) -> String {
    format!("RESYNC#{shard}")
}

pub(crate) fn lease_shard_of(psid: &str) -> u32 {
    shard_of(psid, LEASE_SHARDS)
}

pub(crate) fn resync_shard_of(psid: &str) -> u32 {
    shard_of(psid, RESYNC_SHARDS)
}

/// The `leases` index partition of a conversation's lease item.
pub fn lease_shard(psid: &str) -> String {
    lease_partition(lease_shard_of(psid))
}

/// The `resync` index partition of a conversation flagged `needs_resync`.
pub fn resync_shard(psid: &str) -> String {
    resync_partition(resync_shard_of(psid))
}

pub(crate) fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE_SIZE)
}

/// Cursors are opaque to clients: base64url of a small JSON object.
pub(crate) fn encode_cursor<T: Serialize>(value: &T) -> Result<String, StoreError> {
    let json = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

pub(crate) fn decode_cursor<T: for<'de> Deserialize<'de>>(cursor: &str) -> Result<T, StoreError> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)
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

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(lease_shard("1234"), lease_shard("1234"));
        for psid in ["1", "22", "333", "4444", "55555"] {
            assert!(shard_of(psid, LEASE_SHARDS) < LEASE_SHARDS);
        }
    }

    #[test]
    fn bad_cursors_are_refused() {
        assert!(matches!(
            decode_cursor::<String>("%%%"),
            Err(StoreError::InvalidCursor)
        ));
        let good = encode_cursor(&"x".to_string()).unwrap();
        assert_eq!(decode_cursor::<String>(&good).unwrap(), "x");
    }
}
