//! The Lambda adapter (feature `lambda`): Lambda's HTTP event types ↔ the HTTP contract,
//! the clients every function builds once at start-up, scheduled runs' deadlines, and the
//! one mapping of invocation errors to Lambda's error types.

mod deadline;
mod gateway;
mod invocation_error;
mod start;
pub mod stream;
mod wiring;

pub use deadline::{work_until, DEADLINE_MARGIN, UNKNOWN_DEADLINE_BUDGET};
pub use gateway::{
    api_credentials, gateway_response, header, header_text, into_response, query_map,
    request_of_gateway_event,
};
pub use invocation_error::InvocationError;
pub use start::start;
pub use wiring::{event_publisher, Services};
