//! The ports: the narrow traits the use cases use to reach storage, Meta and the event
//! bus, with the types and errors they speak, and the write budget every store enforces.
//! Adapters at the edge implement them (`routing-core`); test doubles too (`testing/`).

pub mod event_bus;
pub mod graph;
pub mod idempotency;
mod secret;
pub mod store;
pub mod webhook;
pub mod write_budget;

pub use event_bus::{EventBus, EventBusError};
pub use graph::{
    GraphApi, GraphError, MessagingType, OutgoingMessage, SentMessage, ThreadControl, ThreadOwner,
};
pub use idempotency::{IdempotencyKeys, KeyClaim, KeyUse, StoredAnswer};
pub use secret::Secret;
pub use store::{
    ConversationWrite, DueLease, LeaseChange, Listing, QuarantinedBody, QueueQuery, Store,
    StoreError, TimelineOrder, WriteOutcome, LEASE_SHARDS, MAX_PAGE_SIZE, RESYNC_SHARDS,
};
pub use webhook::{ParsedWebhook, RejectedEvent, SignatureError, WebhookFormat};
