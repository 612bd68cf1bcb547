//! Publishing the events about conversations (docs/architecture.md, "Events"): from the
//! table's stream, each new version of a conversation record that noted a change of
//! control (or an unclaimed hand-over) becomes one event on the bus. Which event is the
//! domain's (`domain::events_between`); this use case only puts them on the bus, in stream
//! order, and names the stream records whose event the bus did not take, so that Lambda
//! retries exactly those (and dead-letters them after its retries).

use std::sync::Arc;

use crate::ports::EventBus;
use routing_domain::{events_between, BusinessEvent, Conversation};

/// One stream record about a conversation record: its id (the sequence number, what
/// Lambda's partial batch response names), the record before and after (`None`: absent).
#[derive(Clone, Debug)]
pub struct RecordChange {
    pub id: String,
    pub old: Option<Conversation>,
    pub new: Option<Conversation>,
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Events the bus accepted.
    pub published: usize,
    /// Ids of the records whose event the bus did not accept, in stream order.
    pub failed: Vec<String>,
}

/// The publisher: built once per container.
#[derive(Clone)]
pub struct EventPublisher {
    bus: Arc<dyn EventBus>,
}

impl EventPublisher {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        EventPublisher { bus }
    }

    /// The events of `changes` (at most one each), onto the bus in order.
    pub async fn publish(&self, changes: &[RecordChange]) -> PublishReport {
        let (ids, events): (Vec<&str>, Vec<BusinessEvent>) = changes
            .iter()
            .filter_map(|change| {
                let event = events_between(change.old.as_ref(), change.new.as_ref()?)?;
                Some((change.id.as_str(), event))
            })
            .unzip();
        if events.is_empty() {
            return PublishReport::default();
        }
        let answers = self.bus.publish(&events).await;
        let mut report = PublishReport::default();
        for (i, (id, event)) in ids.iter().zip(&events).enumerate() {
            match answers.get(i) {
                Some(Ok(())) => {
                    report.published += 1;
                    tracing::info!(
                        page_id = %event.page_id,
                        version = event.version,
                        detail_type = event.kind().detail_type(),
                        "event published"
                    );
                }
                Some(Err(err)) => {
                    tracing::warn!(page_id = %event.page_id, version = event.version, error = %err, "event not published; retried");
                    report.failed.push(id.to_string());
                }
                None => {
                    tracing::warn!(page_id = %event.page_id, version = event.version, "the bus gave no answer; retried");
                    report.failed.push(id.to_string());
                }
            }
        }
        report
    }
}
