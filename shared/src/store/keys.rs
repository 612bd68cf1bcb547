//! The key layout both stores share: partition and sort keys, index partitions and
//! shards, and opaque cursors.
//!
//! Single-table layout (attribute names in docs/architecture.md):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | conversation record | `CONV#<page>#<psid>` | `STATE` |
//! | timeline entry | `CONV#<page>#<psid>` | `TL#<at ms, 13 digits>#<key>` |
//! | applied-event key | `CONV#<page>#<psid>` | `DEDUPE#<key>` |
//! | lease (timed reset) | `CONV#<page>#<psid>` | `LEASE` |
//! | quarantined body | `QUARANTINE#<app>` | `<received ms>#<sha256>` |

use base64::Engine;
use serde::{Deserialize, Serialize};

use routing_domain::{Conversation, OwnerRole, TimelineEntry};
use routing_usecases::ports::store::{StoreError, LEASE_SHARDS, MAX_PAGE_SIZE, RESYNC_SHARDS};

/// The attribute and index names of the table (the infrastructure template declares the
/// same).
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL: &str = "ttl";
pub const QUEUE_INDEX: &str = "queue";
pub const QUEUE_PK: &str = "queue_pk";
pub const QUEUE_SK: &str = "queue_sk";
pub const UNREAD_INDEX: &str = "unread";
pub const UNREAD_PK: &str = "unread_pk";
pub const LEASE_INDEX: &str = "leases";
pub const LEASE_SHARD: &str = "lease_shard";
pub const LEASE_DUE: &str = "lease_due";
pub const RESYNC_INDEX: &str = "resync";
pub const RESYNC_PK: &str = "resync_pk";
pub const RESYNC_SK: &str = "resync_sk";
pub const STATE_SK: &str = "STATE";
pub const LEASE_SK: &str = "LEASE";

/// The `(page, psid)` a conversation item's partition key names (`CONV#<page>#<psid>`).
pub fn conversation_of_pk(pk: &str) -> Option<(&str, &str)> {
    let (page_id, psid) = pk.strip_prefix("CONV#")?.split_once('#')?;
    (!page_id.is_empty() && !psid.is_empty()).then_some((page_id, psid))
}

pub(crate) fn conversation_pk(page_id: &str, psid: &str) -> String {
    format!("CONV#{page_id}#{psid}")
}

/// The sort key prefix of timeline entries.
pub(crate) const TIMELINE_PREFIX: &str = "TL#";
/// The sort key prefix of applied-event keys.
pub(crate) const APPLIED_PREFIX: &str = "DEDUPE#";

/// The sort key of an applied-event key.
pub(crate) fn applied_sk(key: &str) -> String {
    format!("{APPLIED_PREFIX}{key}")
}

pub(crate) fn timeline_sk(entry: &TimelineEntry) -> String {
    format!("{TIMELINE_PREFIX}{:013}#{}", entry.at.max(0), entry.key)
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

/// A cursor names the listing that gave it out, so one handed to another listing (another
/// conversation's timeline, the queue instead of the timeline) is refused, not read.
#[derive(Serialize, Deserialize)]
struct BoundCursor<T> {
    listing: String,
    after: T,
}

/// The listing of a conversation's timeline.
pub(crate) fn timeline_listing(page_id: &str, psid: &str) -> String {
    format!("timeline:{}", conversation_pk(page_id, psid))
}

/// The listing of a queue (all of a role's conversations, or only the unread).
pub(crate) fn queue_listing(page_id: &str, role: OwnerRole, unread_only: bool) -> String {
    let index = if unread_only { "unread" } else { "queue" };
    format!("{index}:{}", queue_pk(page_id, role))
}

pub(crate) fn lease_listing(shard: u32) -> String {
    format!("leases:{}", lease_partition(shard))
}

pub(crate) fn resync_listing(shard: u32) -> String {
    format!("resync:{}", resync_partition(shard))
}

/// Cursors are opaque to clients: base64url of a small JSON object naming its listing.
pub(crate) fn encode_cursor<T: Serialize>(listing: &str, after: &T) -> Result<String, StoreError> {
    let bound = BoundCursor {
        listing: listing.to_string(),
        after,
    };
    let json = serde_json::to_vec(&bound).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// The position a cursor of `listing` carries; `InvalidCursor` for anything else.
pub(crate) fn decode_cursor<T: for<'de> Deserialize<'de>>(
    listing: &str,
    cursor: &str,
) -> Result<T, StoreError> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let bound: BoundCursor<T> =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    if bound.listing != listing {
        return Err(StoreError::InvalidCursor);
    }
    Ok(bound.after)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            decode_cursor::<String>("a", "%%%"),
            Err(StoreError::InvalidCursor)
        ));
        let good = encode_cursor("a", &"x".to_string()).unwrap();
        assert_eq!(decode_cursor::<String>("a", &good).unwrap(), "x");
        assert!(matches!(
            decode_cursor::<String>("b", &good),
            Err(StoreError::InvalidCursor)
        ));
    }
}
