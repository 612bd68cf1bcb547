//! Which applied-event keys of one conversation exist: one strongly consistent
//! `BatchGetItem` per 100 keys (DynamoDB's limit), projecting only the sort key, with
//! DynamoDB's unprocessed keys asked again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::items::{backend, s};
use super::schema::{PK, SK};
use super::DynamoStore;
use crate::store::keys::{applied_sk, conversation_pk, APPLIED_PREFIX};
use routing_usecases::backoff::Backoff;
use routing_usecases::ports::StoreError;

/// Keys one `BatchGetItem` may ask for.
const BATCH_GET_KEYS: usize = 100;
/// Rounds for keys DynamoDB left unprocessed (throttling) before giving up.
const UNPROCESSED_ROUNDS: u32 = 6;
const UNPROCESSED_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(10),
    max: Duration::from_millis(200),
};

/// The keys of one `BatchGetItem` round: those found, and those DynamoDB left unprocessed.
type Round = (Vec<String>, Vec<HashMap<String, AttributeValue>>);

impl DynamoStore {
    pub(super) async fn applied_keys(
        &self,
        page_id: &str,
        psid: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let pk = conversation_pk(page_id, psid);
        // BatchGetItem refuses a key asked twice.
        let distinct: Vec<&String> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut found = HashSet::new();
        for chunk in distinct.chunks(BATCH_GET_KEYS) {
            let mut wanted: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|key| {
                    HashMap::from([
                        (PK.to_string(), s(pk.clone())),
                        (SK.to_string(), s(applied_sk(key))),
                    ])
                })
                .collect();
            for round in 1..=UNPROCESSED_ROUNDS {
                let (keys, unprocessed) = self.applied_round(wanted).await?;
                found.extend(keys);
                wanted = unprocessed;
                if wanted.is_empty() {
                    break;
                }
                if round == UNPROCESSED_ROUNDS {
                    return Err(StoreError::Backend(format!(
                        "{} applied-event keys left unprocessed by BatchGetItem",
                        wanted.len()
                    )));
                }
                tokio::time::sleep(UNPROCESSED_BACKOFF.jittered(round)).await;
            }
        }
        Ok(found)
    }

    /// One `BatchGetItem` of these keys, projecting only the sort key.
    async fn applied_round(
        &self,
        wanted: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Round, StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(wanted))
            .consistent_read(true)
            .projection_expression("#sk")
            .expression_attribute_names("#sk", SK)
            .build()
            .map_err(backend)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(backend)?;
        let found = out
            .responses
            .and_then(|mut by_table| by_table.remove(&self.table))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| match item.get(SK) {
                Some(AttributeValue::S(sk)) => sk.strip_prefix(APPLIED_PREFIX).map(str::to_string),
                _ => None,
            })
            .collect();
        let unprocessed = out
            .unprocessed_keys
            .and_then(|mut by_table| by_table.remove(&self.table))
            .map(|rest| rest.keys)
            .unwrap_or_default();
        Ok((found, unprocessed))
    }
}
