//! Idempotency keys in the table: one item per key beside the conversation's record
//! (`pk` = `CONV#<page>#<psid>`, `sk` = `IDEMPOTENCY#<key>`), TTL 24 h. A claim is a
//! `PutItem` conditional on no unexpired item; a refused claim reads the item held.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use serde::{Deserialize, Serialize};

use super::items::{backend, from_item, s, to_item};
use super::schema::{PK, SK, TTL};
use super::DynamoStore;
use crate::store::keys::conversation_pk;
use routing_domain::{EpochMillis, EpochSeconds};
use routing_usecases::ports::{IdempotencyKeys, KeyClaim, KeyUse, StoreError, StoredAnswer};

/// The sort key prefix of idempotency keys.
pub const IDEMPOTENCY_SK_PREFIX: &str = "IDEMPOTENCY#";

#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    sk: String,
    page_id: String,
    psid: String,
    key: String,
    fingerprint: String,
    claimed_at: EpochMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer: Option<StoredAnswer>,
    ttl: EpochSeconds,
}

impl KeyItem {
    fn of(record: &KeyUse) -> Self {
        KeyItem {
            pk: conversation_pk(&record.page_id, &record.psid),
            sk: format!("{IDEMPOTENCY_SK_PREFIX}{}", record.key),
            page_id: record.page_id.clone(),
            psid: record.psid.clone(),
            key: record.key.clone(),
            fingerprint: record.fingerprint.clone(),
            claimed_at: record.claimed_at,
            answer: record.answer.clone(),
            ttl: record.expires_at,
        }
    }

    fn record(self) -> KeyUse {
        KeyUse {
            page_id: self.page_id,
            psid: self.psid,
            key: self.key,
            fingerprint: self.fingerprint,
            claimed_at: self.claimed_at,
            answer: self.answer,
            expires_at: self.ttl,
        }
    }
}

impl DynamoStore {
    async fn put_key(&self, record: &KeyUse) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&KeyItem::of(record))?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn held_key(&self, record: &KeyUse) -> Result<KeyClaim, StoreError> {
        let item = KeyItem::of(record);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(item.pk))
            .key(SK, s(item.sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        match out.item {
            Some(item) => Ok(KeyClaim::Held(from_item::<KeyItem>(item)?.record())),
            // Released or expired between the two requests: it is held by nobody now.
            None => Err(StoreError::VersionConflict),
        }
    }
}

#[async_trait]
impl IdempotencyKeys for DynamoStore {
    async fn claim_key(&self, record: &KeyUse, now: EpochSeconds) -> Result<KeyClaim, StoreError> {
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&KeyItem::of(record))?))
            .condition_expression("attribute_not_exists(#pk) OR #ttl < :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(
                ":now",
                aws_sdk_dynamodb::types::AttributeValue::N(now.to_string()),
            )
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(KeyClaim::Claimed),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                self.held_key(record).await
            }
            Err(err) => Err(backend(err)),
        }
    }

    async fn complete_key(&self, record: &KeyUse) -> Result<(), StoreError> {
        self.put_key(record).await
    }

    async fn release_key(&self, page_id: &str, psid: &str, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(conversation_pk(page_id, psid)))
            .key(SK, s(format!("{IDEMPOTENCY_SK_PREFIX}{key}")))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
