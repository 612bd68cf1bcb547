//! The DynamoDB [`Store`]: one table, conditional transactional writes, sparse indexes for
//! the queue, the unread queue, due leases and conversations needing re-sync. No scans.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    clamp_limit, conversation_pk, decode_cursor, encode_cursor, lease_partition, lease_shard,
    queue_pk, queue_sk, resync_partition, resync_shard, timeline_sk, ConversationWrite, DueLease,
    LeaseChange, Page, QuarantinedBody, QueueQuery, Store, StoreError, TimelineOrder, WriteOutcome,
    LEASE_SHARDS, RESYNC_SHARDS,
};
use crate::domain::{Conversation, EpochMillis, EpochSeconds, TimelineEntry};

/// Names of the table's indexes and attributes (the infra template uses the same).
pub mod schema {
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
}

use schema::*;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish()
    }
}

/// The record item: the conversation plus its index keys.
#[derive(Serialize, Deserialize)]
struct StateItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    conversation: Conversation,
    queue_pk: String,
    queue_sk: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    unread_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    resync_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    resync_sk: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TimelineItem {
    pk: String,
    sk: String,
    ttl: EpochSeconds,
    #[serde(flatten)]
    entry: TimelineEntry,
}

#[derive(Serialize, Deserialize)]
struct LeaseItem {
    pk: String,
    sk: String,
    page_id: String,
    psid: String,
    lease_shard: String,
    lease_due: EpochSeconds,
    ttl: EpochSeconds,
}

#[derive(Serialize, Deserialize)]
struct DedupeItem {
    pk: String,
    sk: String,
    ttl: EpochSeconds,
}

#[derive(Serialize, Deserialize)]
struct QuarantineItem {
    pk: String,
    sk: String,
    app_id: String,
    received_at: EpochMillis,
    body_base64: String,
    reason: String,
    ttl: EpochSeconds,
}

type Item = HashMap<String, AttributeValue>;

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn backend<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(err).to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A cursor carrying DynamoDB's `LastEvaluatedKey` (string and number attributes only).
#[derive(Serialize, Deserialize)]
struct KeyCursor(Vec<(String, String, bool)>);

fn cursor_from_key(key: Option<&Item>) -> Result<Option<String>, StoreError> {
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

fn key_from_cursor(cursor: Option<&str>) -> Result<Option<Item>, StoreError> {
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

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// A client for a local DynamoDB API server (moto) with dummy credentials.
    pub fn local_client(endpoint_url: &str, counter: Option<RequestCounter>) -> Client {
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(endpoint_url)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ));
        if let Some(counter) = counter {
            config = config.interceptor(counter);
        }
        Client::from_conf(config.build())
    }

    /// The client from a loaded AWS configuration.
    pub fn client(sdk: &aws_config::SdkConfig, counter: Option<RequestCounter>) -> Client {
        let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
        if let Some(counter) = counter {
            config = config.interceptor(counter);
        }
        Client::from_conf(config.build())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Create the table, its indexes, its stream and its TTL setting (local stack and
    /// tests; in AWS the SAM template declares the same).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(backend)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(backend)
        };
        let index =
            |name: &str, hash: &str, range: &str| -> Result<GlobalSecondaryIndex, StoreError> {
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(key(hash, KeyType::Hash)?)
                    .key_schema(key(range, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(backend)
            };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PK, ScalarAttributeType::S)?)
            .attribute_definitions(attr(SK, ScalarAttributeType::S)?)
            .attribute_definitions(attr(QUEUE_PK, ScalarAttributeType::S)?)
            .attribute_definitions(attr(QUEUE_SK, ScalarAttributeType::S)?)
            .attribute_definitions(attr(UNREAD_PK, ScalarAttributeType::S)?)
            .attribute_definitions(attr(LEASE_SHARD, ScalarAttributeType::S)?)
            .attribute_definitions(attr(LEASE_DUE, ScalarAttributeType::N)?)
            .attribute_definitions(attr(RESYNC_PK, ScalarAttributeType::S)?)
            .attribute_definitions(attr(RESYNC_SK, ScalarAttributeType::S)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(index(QUEUE_INDEX, QUEUE_PK, QUEUE_SK)?)
            .global_secondary_indexes(index(UNREAD_INDEX, UNREAD_PK, QUEUE_SK)?)
            .global_secondary_indexes(index(LEASE_INDEX, LEASE_SHARD, LEASE_DUE)?)
            .global_secondary_indexes(index(RESYNC_INDEX, RESYNC_PK, RESYNC_SK)?)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::OldImage)
                    .build()
                    .map_err(backend)?,
            )
            .send()
            .await
            .map_err(backend)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL)
                    .build()
                    .map_err(backend)?,
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn put(&self, item: Item) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(backend)
    }

    async fn query_index(
        &self,
        index: &str,
        condition: &str,
        values: Item,
        forward: bool,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(forward)
            .limit(clamp_limit(limit) as i32)
            .set_exclusive_start_key(key_from_cursor(cursor)?)
            .send()
            .await
            .map_err(backend)?;
        let next = cursor_from_key(out.last_evaluated_key())?;
        Ok((out.items.unwrap_or_default(), next))
    }
}

fn state_item(conversation: &Conversation) -> StateItem {
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

#[async_trait]
impl Store for DynamoStore {
    async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(conversation_pk(page_id, psid)))
            .key(SK, s(STATE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        match out.item {
            None => Ok(None),
            Some(item) => Ok(Some(from_item::<StateItem>(item)?.conversation)),
        }
    }

    async fn write(&self, write: ConversationWrite) -> Result<WriteOutcome, StoreError> {
        let pk = conversation_pk(&write.state.page_id, &write.state.psid);
        let mut items = Vec::with_capacity(write.timeline.len() + 3);

        // The record, conditional on the version read.
        let mut state = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&state_item(&write.state))?));
        state = if write.expected_version == 0 {
            state.condition_expression("attribute_not_exists(pk)")
        } else {
            state
                .condition_expression("version = :expected")
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(write.expected_version.to_string()),
                )
        };
        items.push(
            TransactWriteItem::builder()
                .put(state.build().map_err(backend)?)
                .build(),
        );

        // The applied-event key: the write is a duplicate when it exists.
        let dedupe_index = if let Some(key) = &write.dedupe_key {
            let item = to_item(&DedupeItem {
                pk: pk.clone(),
                sk: format!("DEDUPE#{key}"),
                ttl: write.dedupe_expires_at,
            })?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(backend)?;
            items.push(TransactWriteItem::builder().put(put).build());
            Some(items.len() - 1)
        } else {
            None
        };

        for entry in &write.timeline {
            let item = to_item(&TimelineItem {
                pk: pk.clone(),
                sk: timeline_sk(entry),
                ttl: write.timeline_expires_at,
                entry: entry.clone(),
            })?;
            items.push(TransactWriteItem::builder().put(self.put(item)?).build());
        }

        match write.lease {
            LeaseChange::Unchanged => {}
            LeaseChange::Set { due } => {
                let item = to_item(&LeaseItem {
                    pk: pk.clone(),
                    sk: LEASE_SK.to_string(),
                    page_id: write.state.page_id.clone(),
                    psid: write.state.psid.clone(),
                    lease_shard: lease_shard(&write.state.psid),
                    lease_due: due,
                    ttl: due,
                })?;
                items.push(TransactWriteItem::builder().put(self.put(item)?).build());
            }
            LeaseChange::Remove => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .key(PK, s(pk.clone()))
                    .key(SK, s(LEASE_SK))
                    .build()
                    .map_err(backend)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
        }

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(SdkError::ServiceError(err)) => match err.into_err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let failed = |i: usize| {
                        cancelled
                            .cancellation_reasons()
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|code| code == "ConditionalCheckFailed")
                    };
                    if dedupe_index.is_some_and(failed) {
                        Ok(WriteOutcome::Duplicate)
                    } else {
                        // A version change, or a concurrent transaction on the same items:
                        // either way, read again and decide again.
                        Err(StoreError::VersionConflict)
                    }
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    Err(StoreError::VersionConflict)
                }
                other => Err(backend(other)),
            },
            Err(other) => Err(backend(other)),
        }
    }

    async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<TimelineEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :tl)")
            .expression_attribute_values(":pk", s(conversation_pk(page_id, psid)))
            .expression_attribute_values(":tl", s("TL#"))
            .scan_index_forward(order == TimelineOrder::OldestFirst)
            .limit(clamp_limit(limit) as i32)
            .set_exclusive_start_key(key_from_cursor(cursor)?)
            .send()
            .await
            .map_err(backend)?;
        let next_cursor = cursor_from_key(out.last_evaluated_key())?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<TimelineItem>(item).map(|t| t.entry))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn queue(&self, query: &QueueQuery) -> Result<Page<Conversation>, StoreError> {
        let (index, key_attr) = if query.unread_only {
            (UNREAD_INDEX, UNREAD_PK)
        } else {
            (QUEUE_INDEX, QUEUE_PK)
        };
        let condition = format!("{key_attr} = :q");
        let values = HashMap::from([(":q".to_string(), s(queue_pk(&query.page_id, query.role)))]);
        let (items, next_cursor) = self
            .query_index(
                index,
                &condition,
                values,
                false,
                query.limit,
                query.cursor.as_deref(),
            )
            .await?;
        let items = items
            .into_iter()
            .map(|item| from_item::<StateItem>(item).map(|i| i.conversation))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<DueLease>, StoreError> {
        if shard >= LEASE_SHARDS {
            return Ok(Page::empty());
        }
        let values = HashMap::from([
            (":shard".to_string(), s(lease_partition(shard))),
            (
                ":from".to_string(),
                AttributeValue::N(due.start().to_string()),
            ),
            (
                ":until".to_string(),
                AttributeValue::N(due.end().to_string()),
            ),
        ]);
        let (items, next_cursor) = self
            .query_index(
                LEASE_INDEX,
                &format!("{LEASE_SHARD} = :shard AND {LEASE_DUE} BETWEEN :from AND :until"),
                values,
                true,
                limit,
                cursor,
            )
            .await?;
        let items = items
            .into_iter()
            .map(|item| {
                from_item::<LeaseItem>(item).map(|l| DueLease {
                    page_id: l.page_id,
                    psid: l.psid,
                    due: l.lease_due,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>, StoreError> {
        if shard >= RESYNC_SHARDS {
            return Ok(Page::empty());
        }
        let values = HashMap::from([(":shard".to_string(), s(resync_partition(shard)))]);
        let (items, next_cursor) = self
            .query_index(
                RESYNC_INDEX,
                &format!("{RESYNC_PK} = :shard"),
                values,
                true,
                limit,
                cursor,
            )
            .await?;
        let items = items
            .into_iter()
            .map(|item| from_item::<StateItem>(item).map(|i| i.conversation))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError> {
        let digest = hex::encode(Sha256::digest(&body.body));
        let item = to_item(&QuarantineItem {
            pk: format!("QUARANTINE#{}", body.app_id),
            sk: format!("{:013}#{}", body.received_at.max(0), &digest[..16]),
            app_id: body.app_id,
            received_at: body.received_at,
            body_base64: base64::engine::general_purpose::STANDARD.encode(&body.body),
            reason: body.reason,
            ttl: body.expires_at,
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn quarantined(&self, app_id: &str) -> Result<Vec<QuarantinedBody>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("QUARANTINE#{app_id}")))
            .send()
            .await
            .map_err(backend)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let q: QuarantineItem = from_item(item)?;
                let body = base64::engine::general_purpose::STANDARD
                    .decode(q.body_base64)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(QuarantinedBody {
                    app_id: q.app_id,
                    received_at: q.received_at,
                    body,
                    reason: q.reason,
                    expires_at: q.ttl,
                })
            })
            .collect()
    }
}

/// Counts the DynamoDB requests a client sends, by operation (an SDK interceptor, so
/// retries count too). Used to measure requests per event.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    inner: Arc<CounterInner>,
}

#[derive(Debug, Default)]
struct CounterInner {
    items_read_by_operation: Mutex<HashMap<String, u64>>,
    by_operation: Mutex<HashMap<String, u64>>,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn total(&self) -> u64 {
        self.by_operation().values().sum()
    }

    /// Requests per operation name (`GetItem`, `TransactWriteItems`, ...).
    pub fn by_operation(&self) -> HashMap<String, u64> {
        self.inner
            .by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Items DynamoDB read to answer: a query's `ScannedCount` (every item it evaluated,
    /// before any filter) plus one per `GetItem` that found its item.
    pub fn items_read(&self) -> u64 {
        self.items_read_by_operation().values().sum()
    }

    /// [`items_read`](Self::items_read) per operation name.
    pub fn items_read_by_operation(&self) -> HashMap<String, u64> {
        self.inner
            .items_read_by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut m) = self.inner.items_read_by_operation.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.inner.by_operation.lock() {
            m.clear();
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string();
        if let Ok(mut m) = self.inner.by_operation.lock() {
            *m.entry(operation).or_insert(0) += 1;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let (operation, read) = if let Some(query) =
            output.downcast_ref::<aws_sdk_dynamodb::operation::query::QueryOutput>()
        {
            ("Query", u64::try_from(query.scanned_count).unwrap_or(0))
        } else if let Some(get) =
            output.downcast_ref::<aws_sdk_dynamodb::operation::get_item::GetItemOutput>()
        {
            ("GetItem", u64::from(get.item.is_some()))
        } else {
            return Ok(());
        };
        if let Ok(mut m) = self.inner.items_read_by_operation.lock() {
            *m.entry(operation.to_string()).or_insert(0) += read;
        }
        Ok(())
    }
}
