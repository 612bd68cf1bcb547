//! `routing-core`: the coordinator's adapters at the edge, around the use cases
//! (`routing-usecases`) and the domain (`routing-domain`). How the parts fit is in
//! docs/architecture.md; each folder in one sentence:
//!
//! - [`config_source`]: where the configuration document comes from (a file, a Secrets
//!   Manager secret).
//! - [`settings`]: the typed settings read from the environment, in one place.
//! - [`store`]: the `Store` adapters: DynamoDB and in-memory, over one key layout.
//! - [`bus`]: the `EventBus` adapter: Amazon EventBridge.
//! - [`meta`]: Meta's wire format: JSON ids, webhook bodies and signatures (the
//!   `WebhookFormat` adapter), and the Graph API client (the `GraphApi` adapter).
//! - [`http`]: the HTTP contract: routes, `ApiError` and the one mapping from use-case
//!   errors, the JSON views, API-token authorization.
//! - `lambda` (feature `lambda`): Lambda's event types ↔ the HTTP contract, the clients
//!   every function builds once, scheduled runs' deadlines.
//! - [`tls`]: the one TLS stack (rustls with ring) for the AWS SDK and the Graph client.
//! - [`telemetry`]: tracing set-up (JSON in Lambda).

pub mod bus;
pub mod config_source;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod meta;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod tls;
