//! The HTTP contract (docs/architecture.md, "HTTP contract"): routes, [`ApiError`] and the
//! one mapping from service errors to status codes, the JSON views, API-token
//! authorization. Independent of Lambda's event types (the `lambda` adapter converts).

pub mod auth;
pub mod control_api;
pub mod errors;
pub mod reply;
pub mod resync_api;
pub mod routes;
pub mod views;
pub mod webhook_api;

pub use reply::{ApiError, Reply};
pub use routes::route_segments;
