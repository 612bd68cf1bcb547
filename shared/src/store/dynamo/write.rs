//! One conversation write as one `TransactWriteItems`: the record (conditional on its
//! version), the applied-event key (conditional on its absence), the timeline entries and
//! the lease item, all or nothing.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::items::{
    backend, s, state_item, to_item, AppliedKeyItem, Item, LeaseItem, TimelineItem,
};
use super::schema::{LEASE_SK, PK, SK};
use super::size::check_transaction;
use super::DynamoStore;
use crate::store::keys::{applied_sk, conversation_pk, lease_shard, timeline_sk};
use routing_usecases::ports::{ConversationWrite, LeaseChange, StoreError, WriteOutcome};

/// The transaction's items, and where the applied-event keys are among them.
struct Transaction {
    items: Vec<TransactWriteItem>,
    applied_key_indexes: Vec<usize>,
}

impl DynamoStore {
    pub(super) async fn transact(
        &self,
        write: ConversationWrite,
    ) -> Result<WriteOutcome, StoreError> {
        let transaction = self.transaction(&write)?;
        check_transaction(&transaction.items)?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(transaction.items))
            .set_client_request_token(write.state.write_token.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(SdkError::ServiceError(err)) => {
                refusal(err.into_err(), &transaction.applied_key_indexes)
            }
            Err(other) => Err(backend(other)),
        }
    }

    fn transaction(&self, write: &ConversationWrite) -> Result<Transaction, StoreError> {
        let pk = conversation_pk(&write.state.page_id, &write.state.psid);
        let mut items =
            Vec::with_capacity(write.timeline.len() + 3 + write.more_applied_keys.len());
        items.push(
            TransactWriteItem::builder()
                .put(self.state_put(write)?)
                .build(),
        );
        let mut applied_key_indexes = Vec::new();
        for key in write.applied_keys() {
            let item = to_item(&AppliedKeyItem {
                pk: pk.clone(),
                sk: applied_sk(key),
                ttl: write.applied_keys_expire_at,
            })?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(backend)?;
            items.push(TransactWriteItem::builder().put(put).build());
            applied_key_indexes.push(items.len() - 1);
        }
        for entry in &write.timeline {
            let item = to_item(&TimelineItem {
                pk: pk.clone(),
                sk: timeline_sk(entry),
                ttl: write.timeline_expires_at,
                entry: entry.clone(),
            })?;
            items.push(TransactWriteItem::builder().put(self.put(item)?).build());
        }
        if let Some(lease) = self.lease_item(write, &pk)? {
            items.push(lease);
        }
        Ok(Transaction {
            items,
            applied_key_indexes,
        })
    }

    /// The record, conditional on the version read (absent when that was 0).
    fn state_put(&self, write: &ConversationWrite) -> Result<Put, StoreError> {
        let state = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&state_item(&write.state))?));
        let state = if write.expected_version == 0 {
            state.condition_expression("attribute_not_exists(pk)")
        } else {
            state
                .condition_expression("version = :expected")
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(write.expected_version.to_string()),
                )
        };
        state.build().map_err(backend)
    }

    /// The lease item's put or delete, when the lease changes.
    fn lease_item(
        &self,
        write: &ConversationWrite,
        pk: &str,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        Ok(match write.lease {
            LeaseChange::Unchanged => None,
            LeaseChange::Set { due } => {
                let item = to_item(&LeaseItem {
                    pk: pk.to_string(),
                    sk: LEASE_SK.to_string(),
                    page_id: write.state.page_id.clone(),
                    psid: write.state.psid.clone(),
                    lease_shard: lease_shard(&write.state.psid),
                    lease_due: due,
                    // TTL is the timed reset's deadline; `lease_due` may be an earlier
                    // wake-up (an unclaimed hand-over's deadline).
                    ttl: write.state.control_expires_at.map_or(due, |d| d.max(due)),
                })?;
                Some(TransactWriteItem::builder().put(self.put(item)?).build())
            }
            LeaseChange::Remove => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .key(PK, s(pk))
                    .key(SK, s(LEASE_SK))
                    .build()
                    .map_err(backend)?;
                Some(TransactWriteItem::builder().delete(delete).build())
            }
        })
    }

    pub(super) fn put(&self, item: Item) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(backend)
    }
}

/// A refused transaction: a duplicate when an applied-event key's condition failed; else
/// a version change, or a concurrent transaction on the same items: either way, read
/// again and decide again.
fn refusal(
    err: TransactWriteItemsError,
    applied_key_indexes: &[usize],
) -> Result<WriteOutcome, StoreError> {
    match err {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            let failed = |i: usize| {
                cancelled
                    .cancellation_reasons()
                    .get(i)
                    .and_then(|r| r.code())
                    .is_some_and(|code| code == "ConditionalCheckFailed")
            };
            if applied_key_indexes.iter().any(|&i| failed(i)) {
                Ok(WriteOutcome::Duplicate)
            } else {
                Err(StoreError::VersionConflict)
            }
        }
        TransactWriteItemsError::TransactionInProgressException(_) => {
            Err(StoreError::VersionConflict)
        }
        other => Err(backend(other)),
    }
}
