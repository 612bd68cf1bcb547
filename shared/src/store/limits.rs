//! DynamoDB's limits, enforced by both stores before a write (so the in-memory store
//! refuses what DynamoDB would): an item is at most 400 KB, a transaction at most 100 items
//! and 4 MB. Sizes are counted as DynamoDB documents it: each attribute's name plus its
//! value (strings in UTF-8 bytes, numbers about one byte per two digits, lists and maps
//! 3 bytes plus 1 per element).

use serde::Serialize;
use serde_json::Value;

use crate::ports::{ConversationWrite, QuarantinedBody, StoreError};

pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_TRANSACTION_ITEMS: usize = 100;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// The key and index attributes a store adds to an item (pk, sk, index keys, ttl).
const KEY_ATTRIBUTES_BYTES: usize = 256;

/// The size DynamoDB counts for an item holding `value`'s fields.
pub fn item_size<T: Serialize>(value: &T) -> Result<usize, StoreError> {
    let value = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let fields = match &value {
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
        other => value_size(other),
    };
    Ok(fields + KEY_ATTRIBUTES_BYTES)
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => n.to_string().len().div_ceil(2) + 1,
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

fn within_item_limit(what: &str, size: usize) -> Result<usize, StoreError> {
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge(format!(
            "{what} is {size} bytes, over DynamoDB's {MAX_ITEM_BYTES}"
        )));
    }
    Ok(size)
}

/// Refuse a conversation write DynamoDB would refuse.
pub fn check_write(write: &ConversationWrite) -> Result<(), StoreError> {
    let mut total = within_item_limit("the conversation record", item_size(&write.state)?)?;
    for entry in &write.timeline {
        total += within_item_limit("a timeline entry", item_size(entry)?)?;
    }
    // The record, the entries, the applied-event keys and the lease.
    let items = 2 + write.timeline.len() + write.dedupe_keys().count().max(1);
    if items > MAX_TRANSACTION_ITEMS || total > MAX_TRANSACTION_BYTES {
        return Err(StoreError::TooLarge(format!(
            "a write of {items} items and {total} bytes is over DynamoDB's transaction limits"
        )));
    }
    Ok(())
}

/// Refuse a quarantined body DynamoDB would refuse (stored base64-encoded).
pub fn check_quarantine(body: &QuarantinedBody) -> Result<(), StoreError> {
    let encoded = body.body.len().div_ceil(3) * 4;
    let size = encoded + body.reason.len() + body.body_sha256.len() + KEY_ATTRIBUTES_BYTES;
    within_item_limit("a quarantined body", size).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_count_names_and_values() {
        let small = item_size(&json!({"a": "xyz", "n": 12345})).unwrap();
        assert_eq!(small, 1 + 3 + 1 + 4 + KEY_ATTRIBUTES_BYTES);
        let big = json!({"text": "x".repeat(MAX_ITEM_BYTES)});
        assert!(within_item_limit("x", item_size(&big).unwrap()).is_err());
    }
}
