//! event-publisher: the table's DynamoDB stream (new and old images of conversation
//! records) to events on the EventBridge bus. A thin adapter: which record versions are
//! events is `routing_domain::events_between`, putting them on the bus
//! `routing_usecases::events`. Answers Lambda's partial batch response: the records
//! whose event the bus did not take are retried, and after the event source mapping's
//! retries dead-lettered.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use routing_core::lambda::InvocationError;
use routing_core::settings::PUBLISHER_ENVIRONMENT;
use routing_core::store::keys::STATE_SK;
use routing_domain::Conversation;
use routing_usecases::events::{EventPublisher, RecordChange};
use serde_json::{json, Value};

/// Environment variables this function reads (it reads none of the common ones but
/// `RUST_LOG`: neither the table nor the configuration document).
pub const ENVIRONMENT: &[&str] = PUBLISHER_ENVIRONMENT;

/// It performs no DynamoDB table action (the stream is its trigger).
pub const TABLE_ACTIONS: &[&str] = &[];

/// The EventBridge actions it performs, on its bus only.
pub const BUS_ACTIONS: &[&str] = &["PutEvents"];

/// Handle one batch of stream records: `{"batchItemFailures": [...]}` names the records to
/// retry (whose event the bus refused, or whose image could not be read).
pub async fn handle(publisher: &EventPublisher, event: Value) -> Result<Value, InvocationError> {
    let batch: StreamEvent = serde_json::from_value(event)
        .map_err(|e| InvocationError::BadEvent(format!("Records: {e}")))?;
    let mut failed = Vec::new();
    let mut changes = Vec::new();
    for record in &batch.records {
        match change_of(record) {
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

/// The conversation record change a stream record is, `None` for other items; `Err` with
/// the record's id when its image cannot be read (retried, then dead-lettered).
fn change_of(record: &EventRecord) -> Result<Option<RecordChange>, String> {
    let id = record
        .change
        .sequence_number
        .clone()
        .unwrap_or_else(|| record.event_id.clone());
    let is_state = matches!(
        record.change.keys.get("sk"),
        Some(serde_dynamo::AttributeValue::S(sk)) if sk == STATE_SK
    );
    if !is_state {
        return Ok(None);
    }
    let image = |item: &serde_dynamo::Item| -> Result<Option<Conversation>, String> {
        if item.is_empty() {
            return Ok(None);
        }
        serde_dynamo::from_item(item.clone()).map(Some).map_err(|err| {
            tracing::error!(error = %err, "a conversation record's stream image cannot be read");
            id.clone()
        })
    };
    Ok(Some(RecordChange {
        old: image(&record.change.old_image)?,
        new: image(&record.change.new_image)?,
        id: id.clone(),
    }))
}
