//! Events onto an Amazon EventBridge bus with `PutEvents`: at most ten entries a request,
//! each answered on its own (a request that fails as a whole fails each of its events, and
//! an entry the answer does not list failed).

use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use routing_domain::{BusinessEvent, EVENT_SOURCE};
use routing_usecases::ports::{EventBus, EventBusError};

/// EventBridge's limit of entries per `PutEvents` request.
pub const MAX_ENTRIES_PER_PUT: usize = 10;

/// The bus named `bus_name`, through a client built once at start-up.
#[derive(Clone, Debug)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus_name: bus_name.into(),
        }
    }

    fn entry(&self, event: &BusinessEvent) -> Result<PutEventsRequestEntry, EventBusError> {
        let detail = serde_json::to_string(event)
            .map_err(|err| EventBusError::Rejected(format!("detail: {err}")))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.kind().detail_type())
            .detail(detail)
            .build())
    }

    async fn put(&self, events: &[BusinessEvent]) -> Vec<Result<(), EventBusError>> {
        let mut answers: Vec<Result<(), EventBusError>> = Vec::with_capacity(events.len());
        let mut entries = Vec::with_capacity(events.len());
        let mut sent = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            match self.entry(event) {
                Ok(entry) => {
                    entries.push(entry);
                    sent.push(i);
                    answers.push(Ok(()));
                }
                Err(err) => answers.push(Err(err)),
            }
        }
        if entries.is_empty() {
            return answers;
        }
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => {
                let results = output.entries();
                for (n, slot) in sent.iter().enumerate() {
                    // An answer listing fewer entries than were sent took none of the rest.
                    let Some(result) = results.get(n) else {
                        answers[*slot] = Err(EventBusError::Rejected(format!(
                            "PutEvents answered {} of {} entries",
                            results.len(),
                            sent.len()
                        )));
                        continue;
                    };
                    if let Some(code) = result.error_code() {
                        let message = result.error_message().unwrap_or_default();
                        answers[*slot] = Err(EventBusError::Rejected(format!("{code}: {message}")));
                    }
                }
            }
            Err(err) => {
                let message = DisplayErrorContext(&err).to_string();
                for slot in sent {
                    answers[slot] = Err(EventBusError::Unavailable(message.clone()));
                }
            }
        }
        answers
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[BusinessEvent]) -> Vec<Result<(), EventBusError>> {
        let mut answers = Vec::with_capacity(events.len());
        for chunk in events.chunks(MAX_ENTRIES_PER_PUT) {
            answers.extend(self.put(chunk).await);
        }
        answers
    }
}
