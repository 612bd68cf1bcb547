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

/// An upper bound of [`item_size`], cheap to compute: DynamoDB's count of a value is never
/// more than twice its JSON length (every string, number, list and map takes at least half
/// as many JSON bytes as DynamoDB counts), so an item whose doubled JSON length fits needs
/// no exact count; near the limit the exact size is computed.
pub fn item_size_bound<T: Serialize>(value: &T) -> Result<usize, StoreError> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let bound = 2 * counter.0 + KEY_ATTRIBUTES_BYTES;
    if bound <= MAX_ITEM_BYTES {
        Ok(bound)
    } else {
        item_size(value)
    }
}

/// Counts the bytes written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

pub fn within_item_limit(what: &str, size: usize) -> Result<usize, StoreError> {
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge(format!(
            "{what} is {size} bytes, over DynamoDB's {MAX_ITEM_BYTES}"
        )));
    }
    Ok(size)
}

/// Refuse a conversation write DynamoDB would refuse.
pub fn check_write(write: &ConversationWrite) -> Result<(), StoreError> {
    let mut total = write_size(write, false)?;
    if total > MAX_TRANSACTION_BYTES {
        total = write_size(write, true)?;
    }
    // The record, the entries, the applied-event keys and the lease.
    let items = 2 + write.timeline.len() + write.applied_keys().count().max(1);
    within_transaction_limits(items, total)
}

/// Refuse a transaction of `items` items and `total` bytes over DynamoDB's limits.
pub fn within_transaction_limits(items: usize, total: usize) -> Result<(), StoreError> {
    if items > MAX_TRANSACTION_ITEMS || total > MAX_TRANSACTION_BYTES {
        return Err(StoreError::TooLarge(format!(
            "a write of {items} items and {total} bytes is over DynamoDB's transaction limits"
        )));
    }
    Ok(())
}

/// The bytes of a write's record and timeline entries, each within the item limit, as
/// counted exactly or bounded above.
fn write_size(write: &ConversationWrite, exact: bool) -> Result<usize, StoreError> {
    fn size<T: Serialize>(value: &T, exact: bool) -> Result<usize, StoreError> {
        if exact {
            item_size(value)
        } else {
            item_size_bound(value)
        }
    }
    let mut total = within_item_limit("the conversation record", size(&write.state, exact)?)?;
    for entry in &write.timeline {
        total += within_item_limit("a timeline entry", size(entry, exact)?)?;
    }
    Ok(total)
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
    fn the_bound_is_never_below_the_exact_size() {
        let values = [
            json!({}),
            json!({"l": []}),
            json!({"l": [1, [], {}, null, true, "", "é"]}),
            json!({"n": -1234567890123i64, "f": 0.5, "s": "x\"y", "m": {"a": {"b": [[]]}}}),
        ];
        for value in values {
            let (exact, bound) = (item_size(&value).unwrap(), item_size_bound(&value).unwrap());
            assert!(bound >= exact, "{value}: bound {bound} < exact {exact}");
        }
        let big = json!({"text": "x".repeat(MAX_ITEM_BYTES / 2)});
        assert_eq!(
            item_size_bound(&big).unwrap(),
            item_size(&big).unwrap(),
            "exact near the limit"
        );
    }

    #[test]
    fn sizes_count_names_and_values() {
        let small = item_size(&json!({"a": "xyz", "n": 12345})).unwrap();
        assert_eq!(small, 1 + 3 + 1 + 4 + KEY_ATTRIBUTES_BYTES);
        let big = json!({"text": "x".repeat(MAX_ITEM_BYTES)});
        assert!(within_item_limit("x", item_size(&big).unwrap()).is_err());
    }
}
