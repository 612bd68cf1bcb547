//! Opaque cursors carrying DynamoDB's `LastEvaluatedKey` (string and number attributes),
//! bound to the listing that gave them out and checked against its key before DynamoDB
//! sees them: a forged or foreign cursor is `InvalidCursor` (400), never a
//! `ValidationException` (5xx).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::items::Item;
use crate::store::keys::{decode_cursor, encode_cursor};
use routing_usecases::ports::StoreError;

/// A cursor carrying DynamoDB's `LastEvaluatedKey` (string and number attributes only).
#[derive(Serialize, Deserialize)]
struct KeyCursor(Vec<(String, String, bool)>);

/// The key a listing's cursor must carry: exactly these attribute names, its partition
/// (`attribute`, `value`), and a sort key with this prefix when one is given.
pub(super) struct CursorKey<'a> {
    pub listing: &'a str,
    pub names: &'a [&'a str],
    pub partition: (&'a str, &'a str),
    pub sort_prefix: Option<(&'a str, &'a str)>,
}

pub(super) fn cursor_from_key(
    listing: &str,
    key: Option<&Item>,
) -> Result<Option<String>, StoreError> {
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
    encode_cursor(listing, &KeyCursor(parts)).map(Some)
}

pub(super) fn key_from_cursor(
    cursor: Option<&str>,
    expected: &CursorKey<'_>,
) -> Result<Option<Item>, StoreError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let KeyCursor(parts) = decode_cursor(expected.listing, cursor)?;
    let mut names: Vec<&str> = parts.iter().map(|(name, _, _)| name.as_str()).collect();
    let mut wanted = expected.names.to_vec();
    names.sort_unstable();
    wanted.sort_unstable();
    let (attribute, value) = expected.partition;
    let has = |attribute: &str, fits: &dyn Fn(&str) -> bool| {
        parts
            .iter()
            .any(|(name, v, number)| name == attribute && !number && fits(v))
    };
    let in_partition = has(attribute, &|v| v == value);
    let in_range = expected
        .sort_prefix
        .is_none_or(|(name, prefix)| has(name, &|v| v.starts_with(prefix)));
    if names != wanted || !in_partition || !in_range {
        return Err(StoreError::InvalidCursor);
    }
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
