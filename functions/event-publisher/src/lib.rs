//! event-publisher: the table's DynamoDB stream (new and old images of conversation
//! records) to events on the EventBridge bus. A thin adapter: which record versions are
//! events is `routing_domain::events_between`, putting them on the bus
//! `routing_usecases::business_events`, reading the stream `routing_core::lambda::stream`. Answers Lambda's partial batch response: the records
//! whose event the bus did not take are retried, and after the event source mapping's
//! retries dead-lettered.

use routing_core::lambda::stream::{change_of, read_record, records_of};
use routing_core::lambda::InvocationError;
use routing_core::settings::PUBLISHER_ENVIRONMENT;
use routing_usecases::business_events::EventPublisher;
use serde_json::{json, Value};

/// Environment variables this function reads (it reads none of the common ones but
/// `RUST_LOG`: neither the table nor the configuration document).
pub const ENVIRONMENT: &[&str] = PUBLISHER_ENVIRONMENT;

/// It performs no DynamoDB table action (the stream is its trigger).
pub const TABLE_ACTIONS: &[&str] = &[];

/// The EventBridge actions it performs, on its bus only.
pub const BUS_ACTIONS: &[&str] = &["PutEvents"];

/// Handle one batch of stream records: `{"batchItemFailures": [...]}` names the records to
/// retry (whose event the bus refused, or that could not be read); every other record's
/// event is published.
pub async fn handle(publisher: &EventPublisher, payload: Value) -> Result<Value, InvocationError> {
    let mut failed = Vec::new();
    let mut changes = Vec::new();
    for raw in records_of(payload)? {
        match read_record(raw).and_then(|record| change_of(&record)) {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => {}
            Err(id) => failed.push(id),
        }
    }
    let report = publisher.publish(&changes).await;
    failed.extend(report.failed);
    let failures: Vec<Value> = failed
        .into_iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    Ok(json!({ "batchItemFailures": failures }))
}
