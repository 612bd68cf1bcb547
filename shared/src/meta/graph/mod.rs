//! The Graph API adapter: [`GraphClient`] implements the `GraphApi` port with reqwest:
//! base URL and version from the settings, explicit connect and total timeouts, retries
//! with backoff and jitter for transient errors only, and Meta's error bodies mapped to
//! typed errors by code and subcode.

mod answers;
mod client;
mod retry;
mod wire;

pub use client::{GraphClient, DEFAULT_GRAPH_API_BASE_URL, DEFAULT_GRAPH_API_VERSION};
pub use retry::RetryPolicy;
