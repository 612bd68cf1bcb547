//! The items the store writes and reads: the record (with its index keys), timeline
//! entries, leases, applied-event keys and quarantined bodies, and their conversion to and
//! from DynamoDB attribute maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::schema::STATE_SK;
use crate::store::keys::{conversation_pk, queue_pk, queue_sk, resync_shard};
use routing_domain::{Conversation, EpochMillis, EpochSeconds, TimelineEntry};
use routing_usecases::ports::StoreError;

/// The record item: the conversation plus its index keys.
#[derive(Serialize, Deserialize)]
pub(super) struct StateItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) conversation: Conversation,
    pub(super) queue_pk: String,
    pub(super) queue_sk: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) unread_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) resync_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) resync_sk: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct TimelineItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) ttl: EpochSeconds,
    #[serde(flatten)]
    pub(super) entry: TimelineEntry,
}

#[derive(Serialize, Deserialize)]
pub(super) struct LeaseItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) page_id: String,
    pub(super) psid: String,
    pub(super) lease_shard: String,
    pub(super) lease_due: EpochSeconds,
    pub(super) ttl: EpochSeconds,
}

#[derive(Serialize, Deserialize)]
pub(super) struct AppliedKeyItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) ttl: EpochSeconds,
}

#[derive(Serialize, Deserialize)]
pub(super) struct QuarantineItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) app_id: String,
    pub(super) received_at: EpochMillis,
    pub(super) body_base64: String,
    #[serde(default)]
    pub(super) body_len: usize,
    #[serde(default)]
    pub(super) body_sha256: String,
    pub(super) reason: String,
    pub(super) ttl: EpochSeconds,
}

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn backend<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(err).to_string())
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn state_item(conversation: &Conversation) -> StateItem {
    StateItem {
        pk: conversation_pk(&conversation.page_id, &conversation.psid),
        sk: STATE_SK.to_string(),
        queue_pk: queue_pk(&conversation.page_id, conversation.owner.role),
        queue_sk: queue_sk(conversation),
        unread_pk: conversation
            .unread
            .then(|| queue_pk(&conversation.page_id, conversation.owner.role)),
        resync_pk: conversation
            .needs_resync
            .then(|| resync_shard(&conversation.psid)),
        resync_sk: conversation.needs_resync.then(|| {
            format!(
                "{:013}#{}#{}",
                conversation.updated_at.max(0),
                conversation.page_id,
                conversation.psid
            )
        }),
        conversation: conversation.clone(),
    }
}
