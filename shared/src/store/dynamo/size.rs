//! DynamoDB's own count of an item's size, read off the attribute values the transaction
//! sends (so a write is sized once, from what is actually sent, not serialised again):
//! each attribute's name plus its value (strings and binaries their bytes, numbers one
//! byte per two significant digits plus one, booleans and nulls one byte, lists and maps 3
//! bytes plus one per element).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use routing_usecases::ports::write_budget::{within_item_limit, within_transaction_limits};
use routing_usecases::ports::StoreError;

/// Refuse a transaction DynamoDB would refuse (an item over 400 KB, more than 100 items
/// or 4 MB).
pub(super) fn check_transaction(items: &[TransactWriteItem]) -> Result<(), StoreError> {
    let mut total = 0;
    for (index, item) in items.iter().enumerate() {
        let Some(attributes) = item.put().map(|put| put.item()) else {
            continue;
        };
        let what = if index == 0 {
            "the conversation record"
        } else {
            "an item of the write"
        };
        total += within_item_limit(what, item_size(attributes))?;
    }
    within_transaction_limits(items.len(), total)
}

pub(super) fn item_size(attributes: &HashMap<String, AttributeValue>) -> usize {
    attributes
        .iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// One byte per two significant digits, plus one.
fn number_size(number: &str) -> usize {
    let digits = number
        .trim_start_matches('-')
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        let item = HashMap::from([
            ("pk".to_string(), AttributeValue::S("CONV#1".into())),
            ("version".to_string(), AttributeValue::N("12345".into())),
            ("unread".to_string(), AttributeValue::Bool(true)),
            (
                "l".to_string(),
                AttributeValue::L(vec![AttributeValue::S("ab".into())]),
            ),
        ]);
        // 2+6, 7+(3+1), 6+1, 1+(3+1+2)
        assert_eq!(item_size(&item), 8 + 11 + 7 + 7);
        assert_eq!(number_size("1000"), 2, "trailing zeros are not significant");
        assert_eq!(number_size("-0.00123"), 3);
    }
}
