//! The `EventBus` adapter: Amazon EventBridge's `PutEvents`.

mod eventbridge;

pub use eventbridge::{EventBridgeBus, MAX_ENTRIES_PER_PUT};
