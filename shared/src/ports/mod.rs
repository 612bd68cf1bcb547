//! The ports: the narrow traits the services use to reach storage and Meta, with the
//! types and errors they speak. Adapters at the edge implement them (`store/`, `graph/`);
//! test doubles too (`testing/`).

pub mod event_bus;
pub mod graph;
pub mod idempotency;
pub mod store;

pub use event_bus::{EventBus, EventBusError};
pub use graph::{
    GraphApi, GraphError, MessagingType, OutgoingMessage, SentMessage, ThreadControl, ThreadOwner,
};
pub use idempotency::{IdempotencyKeys, IdempotencyRecord, KeyClaim, StoredAnswer};
pub use store::{
    ConversationWrite, DueLease, LeaseChange, Listing, QuarantinedBody, QueueQuery, Store,
    StoreError, TimelineOrder, WriteOutcome, LEASE_SHARDS, MAX_PAGE_SIZE, RESYNC_SHARDS,
};
