//! `routing-usecases`: the use cases of the coordinator, one module each, over the one
//! load–decide–write kernel ([`records`]), and the ports they reach the world through
//! ([`ports`]). It depends on the domain crate only: no AWS, Lambda or HTTP crate. Use cases
//! return their own errors; the adapters map them to HTTP statuses and Lambda error types.

pub mod backoff;
pub mod business_events;
pub mod config;
pub mod control;
pub mod idempotency;
pub mod ingest;
pub mod outages;
pub mod page_reset;
pub mod ports;
pub mod records;
pub mod resync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timed_reset;
pub mod triggers;
