//! An `EventBus` that records what it was given, and refuses the events of chosen
//! conversations a chosen number of times.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{EventBus, EventBusError};
use routing_domain::BusinessEvent;

#[derive(Debug, Default)]
pub struct RecordingBus {
    published: Mutex<Vec<BusinessEvent>>,
    /// conversation (its alias) -> refusals left
    refusals: Mutex<HashMap<String, u32>>,
}

impl RecordingBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuse the next `times` events about `conversation` (its alias).
    pub fn refuse(&self, conversation: &str, times: u32) {
        if let Ok(mut refusals) = self.refusals.lock() {
            refusals.insert(conversation.to_string(), times);
        }
    }

    /// Every event accepted so far, in order.
    pub fn published(&self) -> Vec<BusinessEvent> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, events: &[BusinessEvent]) -> Vec<Result<(), EventBusError>> {
        let (Ok(mut published), Ok(mut refusals)) = (self.published.lock(), self.refusals.lock())
        else {
            return events
                .iter()
                .map(|_| Err(EventBusError::Unavailable("poisoned".into())))
                .collect();
        };
        events
            .iter()
            .map(|event| match refusals.get_mut(&event.conversation) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    Err(EventBusError::Rejected("refused by the test".into()))
                }
                _ => {
                    published.push(event.clone());
                    Ok(())
                }
            })
            .collect()
    }
}
