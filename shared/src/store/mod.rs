//! The storage adapters of the `Store` port: [`DynamoStore`] (the real one) and
//! [`MemoryStore`] (DynamoDB's semantics in memory, for fast tests), over one key layout
//! ([`keys`]), within DynamoDB's limits (the ports' write budget).

mod dynamo;
pub mod keys;
mod memory;

pub use dynamo::{schema, DynamoStore, RequestCounter};
pub use keys::{lease_shard, resync_shard};
pub use memory::MemoryStore;
