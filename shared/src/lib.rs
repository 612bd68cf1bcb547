//! `routing-core`: the shared crate of the conversation-routing coordinator.
//!
//! - [`domain`]: owners, roles, the conversation record, the timeline, the clock (pure).
//! - [`config`]: the configuration document and its validation.
//! - [`webhook`]: Messenger webhook parsing and signature verification.
//! - [`transition`]: the event rules, a pure function over (record, event, Page config).
//! - [`store`]: the `Store` trait, `DynamoStore` and `MemoryStore`.
//! - [`ingest`]: the webhook-ingest service (handshake, verification, exactly-once apply).
//! - [`handoff`]: the control-handoff service (the conversation API).
//! - [`timed_reset`]: the timed reset (sweep over the lease index, TTL deletions).
//! - [`resync`]: ask Meta who owns a thread and correct the record (on demand, batch).
//! - [`http`]: the HTTP contract (error bodies, routing after any path prefix).
//! - [`telemetry`]: tracing set-up (JSON in Lambda).

pub mod config;
pub mod domain;
pub mod graph;
pub mod handoff;
pub mod http;
pub mod ingest;
#[cfg(feature = "lambda")]
pub mod lambda_adapter;
pub mod resync;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timed_reset;
pub mod transition;
pub mod webhook;
