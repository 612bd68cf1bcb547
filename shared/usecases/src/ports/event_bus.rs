//! The event bus port: where the events about conversations go (an Amazon EventBridge
//! bus in AWS, a recording double in tests).

use async_trait::async_trait;

use routing_domain::BusinessEvent;

/// Why an event was not accepted by the bus.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventBusError {
    /// The bus refused or failed this event for now (throttled, unavailable): retried.
    #[error("the event bus did not accept the event: {0}")]
    Rejected(String),
    /// The bus could not be reached at all.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Put `events` on the bus, in order: one answer per event, in the same order.
    async fn publish(&self, events: &[BusinessEvent]) -> Vec<Result<(), EventBusError>>;
}
