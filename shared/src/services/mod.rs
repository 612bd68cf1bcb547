//! The use cases, one folder each, over the one load–decide–write kernel
//! ([`records`]). Services return their own errors; they know nothing of HTTP.

pub mod control;
pub mod events;
pub mod idempotency;
pub mod ingest;
pub mod outages;
pub mod page_reset;
pub mod records;
pub mod resync;
pub mod timed_reset;
pub mod triggers;
