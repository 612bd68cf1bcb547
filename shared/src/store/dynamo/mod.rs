//! The DynamoDB `Store`: one table, conditional transactional writes, sparse indexes for
//! the queue, the unread queue, due leases and conversations needing re-sync. No scans.

mod applied;
mod counter;
mod cursor;
mod idempotency;
mod items;
pub mod schema;
mod size;
mod write;

pub use counter::RequestCounter;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::RangeInclusive;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::store::keys::{
    clamp_limit, conversation_pk, lease_listing, lease_partition, queue_listing, queue_pk,
    resync_listing, resync_partition, timeline_listing, TIMELINE_PREFIX,
};
use cursor::{cursor_from_key, key_from_cursor, CursorKey};
use items::TimelineItem;
use items::{backend, from_item, s, to_item, Item, LeaseItem, QuarantineItem, StateItem};
use routing_domain::{Conversation, EpochSeconds, TimelineEntry};
use routing_usecases::ports::write_budget::check_quarantine;
use routing_usecases::ports::{
    ConversationWrite, DueLease, Listing, QuarantinedBody, QueueQuery, Store, StoreError,
    TimelineOrder, WriteOutcome, LEASE_SHARDS, RESYNC_SHARDS,
};
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

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// The client configuration for a local DynamoDB API server (moto) with dummy
    /// credentials, for callers that add their own interceptors.
    pub fn local_config(endpoint_url: &str) -> aws_sdk_dynamodb::config::Builder {
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .http_client(crate::tls::sdk_http_client())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(endpoint_url)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
    }

    /// A client for a local DynamoDB API server (moto) with dummy credentials.
    pub fn local_client(endpoint_url: &str, counter: Option<RequestCounter>) -> Client {
        let mut config = Self::local_config(endpoint_url);
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

    async fn query_index(
        &self,
        index: &str,
        condition: &str,
        values: Item,
        forward: bool,
        limit: u32,
        cursor: (Option<&str>, &CursorKey<'_>),
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let (cursor, key) = cursor;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(forward)
            .limit(clamp_limit(limit) as i32)
            .set_exclusive_start_key(key_from_cursor(cursor, key)?)
            .send()
            .await
            .map_err(backend)?;
        let next = cursor_from_key(key.listing, out.last_evaluated_key())?;
        Ok((out.items.unwrap_or_default(), next))
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
        // DynamoDB's limits are checked on the items as built (`size`), in `transact`.
        self.transact(write).await
    }

    async fn applied(
        &self,
        page_id: &str,
        psid: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.applied_keys(page_id, psid, keys).await
    }

    async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<TimelineEntry>, StoreError> {
        let pk = conversation_pk(page_id, psid);
        let listing = timeline_listing(page_id, psid);
        let key = CursorKey {
            listing: &listing,
            names: &[PK, SK],
            partition: (PK, &pk),
            sort_prefix: Some((SK, TIMELINE_PREFIX)),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :tl)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":tl", s(TIMELINE_PREFIX))
            .scan_index_forward(order == TimelineOrder::OldestFirst)
            .limit(clamp_limit(limit) as i32)
            .set_exclusive_start_key(key_from_cursor(cursor, &key)?)
            .send()
            .await
            .map_err(backend)?;
        let next_cursor = cursor_from_key(&listing, out.last_evaluated_key())?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<TimelineItem>(item).map(|t| t.entry))
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next_cursor })
    }

    async fn queue(&self, query: &QueueQuery) -> Result<Listing<Conversation>, StoreError> {
        let (index, key_attr) = if query.unread_only {
            (UNREAD_INDEX, UNREAD_PK)
        } else {
            (QUEUE_INDEX, QUEUE_PK)
        };
        let condition = format!("{key_attr} = :q");
        let partition = queue_pk(&query.page_id, query.role);
        let values = HashMap::from([(":q".to_string(), s(partition.clone()))]);
        let listing = queue_listing(&query.page_id, query.role, query.unread_only);
        let key = CursorKey {
            listing: &listing,
            names: &[PK, SK, key_attr, QUEUE_SK],
            partition: (key_attr, &partition),
            sort_prefix: None,
        };
        let cursor = (query.cursor.as_deref(), &key);
        let (items, next_cursor) = self
            .query_index(index, &condition, values, false, query.limit, cursor)
            .await?;
        let items = items
            .into_iter()
            .map(|item| from_item::<StateItem>(item).map(|i| i.conversation))
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next_cursor })
    }

    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<DueLease>, StoreError> {
        if shard >= LEASE_SHARDS {
            return Ok(Listing::empty());
        }
        let partition = lease_partition(shard);
        let listing = lease_listing(shard);
        let key = CursorKey {
            listing: &listing,
            names: &[PK, SK, LEASE_SHARD, LEASE_DUE],
            partition: (LEASE_SHARD, &partition),
            sort_prefix: None,
        };
        let values = HashMap::from([
            (":shard".to_string(), s(partition.clone())),
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
                (cursor, &key),
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
        Ok(Listing { items, next_cursor })
    }

    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<Conversation>, StoreError> {
        if shard >= RESYNC_SHARDS {
            return Ok(Listing::empty());
        }
        let partition = resync_partition(shard);
        let listing = resync_listing(shard);
        let key = CursorKey {
            listing: &listing,
            names: &[PK, SK, RESYNC_PK, RESYNC_SK],
            partition: (RESYNC_PK, &partition),
            sort_prefix: None,
        };
        let values = HashMap::from([(":shard".to_string(), s(partition.clone()))]);
        let (items, next_cursor) = self
            .query_index(
                RESYNC_INDEX,
                &format!("{RESYNC_PK} = :shard"),
                values,
                true,
                limit,
                (cursor, &key),
            )
            .await?;
        let items = items
            .into_iter()
            .map(|item| from_item::<StateItem>(item).map(|i| i.conversation))
            .collect::<Result<_, _>>()?;
        Ok(Listing { items, next_cursor })
    }

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError> {
        check_quarantine(&body)?;
        let digest = hex::encode(Sha256::digest(&body.body));
        let item = to_item(&QuarantineItem {
            pk: format!("QUARANTINE#{}", body.app_id),
            sk: format!("{:013}#{}", body.received_at.max(0), &digest[..16]),
            app_id: body.app_id,
            received_at: body.received_at,
            body_base64: base64::engine::general_purpose::STANDARD.encode(&body.body),
            body_len: body.body_len,
            body_sha256: body.body_sha256,
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
                    body_len: q.body_len.max(body.len()),
                    body,
                    body_sha256: q.body_sha256,
                    reason: q.reason,
                    expires_at: q.ttl,
                })
            })
            .collect()
    }
}
