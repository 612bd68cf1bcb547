//! The Lambda adapter (feature `lambda`): Lambda's HTTP event types ↔ the HTTP contract,
//! the clients every function builds once at start-up, and scheduled runs' deadlines.

mod deadline;
mod gateway;
mod wiring;

pub use deadline::{work_until, DEADLINE_MARGIN, UNKNOWN_DEADLINE_BUDGET};
pub use gateway::{
    api_credentials, gateway_response, header, header_text, into_response, query_map,
    request_of_gateway_event,
};
pub use wiring::{event_publisher, Services};
