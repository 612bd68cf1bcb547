//! Opaque cursors carrying DynamoDB's `LastEvaluatedKey` (string and number attributes).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::items::Item;
use crate::ports::StoreError;
use crate::store::keys::{decode_cursor, encode_cursor};

/// A cursor carrying DynamoDB's `LastEvaluatedKey` (string and number attributes only).
#[derive(Serialize, Deserialize)]
struct KeyCursor(Vec<(String, String, bool)>);

pub(super) fn cursor_from_key(key: Option<&Item>) -> Result<Option<String>, StoreError> {
    let Some(key) = key else { return Ok(None) };
    let mut parts = Vec::new();
    for (name, value) in key {
        match value {
            AttributeValue::S(v) => parts.push((name.clone(), v.clone(), false)),
            AttributeValue::N(v) => parts.push((name.clone(), v.clone(), true)),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "unexpected key type for {name}"
                )))
            }
        }
    }
    parts.sort();
    encode_cursor(&KeyCursor(parts)).map(Some)
}

pub(super) fn key_from_cursor(cursor: Option<&str>) -> Result<Option<Item>, StoreError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let KeyCursor(parts) = decode_cursor(cursor)?;
    Ok(Some(
        parts
            .into_iter()
            .map(|(name, value, number)| {
                let value = if number {
                    AttributeValue::N(value)
                } else {
                    AttributeValue::S(value)
                };
                (name, value)
            })
            .collect(),
    ))
}
