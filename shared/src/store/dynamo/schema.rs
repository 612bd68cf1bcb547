//! The table's schema: creating the table with the key layout's attribute and index names
//! (`store::keys`; the infrastructure template declares the same), for the local stack and
//! tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use super::items::backend;
use super::DynamoStore;
use routing_usecases::ports::StoreError;

pub use crate::store::keys::{
    LEASE_DUE, LEASE_INDEX, LEASE_SHARD, LEASE_SK, PK, QUEUE_INDEX, QUEUE_PK, QUEUE_SK,
    RESYNC_INDEX, RESYNC_PK, RESYNC_SK, SK, STATE_SK, TTL, UNREAD_INDEX, UNREAD_PK,
};

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(backend)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(backend)
}

/// A global secondary index projecting every attribute.
fn index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, StoreError> {
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
}

impl DynamoStore {
    /// Create the table, its indexes, its stream and its TTL setting (local stack and
    /// tests; in AWS the SAM template declares the same).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        use ScalarAttributeType::{N, S};
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest);
        for (name, kind) in [
            (PK, S),
            (SK, S),
            (QUEUE_PK, S),
            (QUEUE_SK, S),
            (UNREAD_PK, S),
            (LEASE_SHARD, S),
            (LEASE_DUE, N),
            (RESYNC_PK, S),
            (RESYNC_SK, S),
        ] {
            request = request.attribute_definitions(attribute(name, kind)?);
        }
        request
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(index(QUEUE_INDEX, QUEUE_PK, QUEUE_SK)?)
            .global_secondary_indexes(index(UNREAD_INDEX, UNREAD_PK, QUEUE_SK)?)
            .global_secondary_indexes(index(LEASE_INDEX, LEASE_SHARD, LEASE_DUE)?)
            .global_secondary_indexes(index(RESYNC_INDEX, RESYNC_PK, RESYNC_SK)?)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(backend)?,
            )
            .send()
            .await
            .map_err(backend)?;
        self.enable_ttl().await
    }

    async fn enable_ttl(&self) -> Result<(), StoreError> {
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
}
