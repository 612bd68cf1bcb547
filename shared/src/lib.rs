//! `routing-core`: the shared crate of the conversation-routing coordinator. How the parts
//! fit is in docs/architecture.md; each folder in one sentence:
//!
//! - [`domain`]: pure types and rules: owners, the conversation record and its lease, the
//!   timeline, the clock, webhook events and the transition rules.
//! - [`config`]: the configuration document (apps, Pages, API tokens), its validation,
//!   and its two sources (a file, a Secrets Manager secret).
//! - [`settings`]: the typed settings read from the environment, in one place.
//! - [`ports`]: the `Store` and `GraphApi` traits with the types and errors they speak.
//! - [`store`]: the `Store` adapters: DynamoDB and in-memory, over one key layout.
//! - [`bus`]: the `EventBus` adapter: Amazon EventBridge.
//! - [`graph`]: the `GraphApi` adapter: the reqwest client, Meta's wire shapes and errors,
//!   retries.
//! - [`webhook`]: Meta's webhook wire format: signatures and parsing into domain events.
//! - [`services`]: the use cases (ingest, control, timed reset, re-sync) over one
//!   load–decide–write kernel; they return their own errors and know nothing of HTTP.
//! - [`http`]: the HTTP contract: routes, `ApiError` and the one mapping from service
//!   errors, the JSON views, API-token authorization.
//! - `lambda` (feature `lambda`): Lambda's event types ↔ the HTTP contract, the clients
//!   every function builds once, scheduled runs' deadlines.
//! - [`telemetry`]: tracing set-up (JSON in Lambda).
//! - `testing` (feature `testing`): fixtures and a scripted `GraphApi` for tests.

pub mod backoff;
pub mod bus;
pub mod config;
pub mod domain;
pub mod graph;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod meta_json;
pub mod ports;
pub mod services;
pub mod settings;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;
pub mod webhook;
