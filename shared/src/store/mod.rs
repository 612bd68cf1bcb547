//! The storage adapters of the `Store` port: [`DynamoStore`] (the real one) and
//! [`MemoryStore`] (DynamoDB's semantics in memory, for fast tests), over one key layout
//! ([`keys`]), within DynamoDB's limits ([`limits`]).

mod dynamo;
pub mod keys;
pub mod limits;
mod memory;

pub use dynamo::{schema, DynamoStore, RequestCounter};
pub use keys::{lease_shard, resync_shard};
pub use memory::MemoryStore;
