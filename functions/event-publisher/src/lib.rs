//! event-publisher: the table's DynamoDB stream (new and old images of conversation
//! records) to events on the EventBridge bus. A thin adapter: which record versions are
//! events is `routing_core::domain::events_between`, putting them on the bus
//! `routing_core::services::events`. Answers Lambda's partial batch response: the records
//! whose event the bus did not take are retried, and after the event source mapping's
//! retries dead-lettered.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use lambda_runtime::Diagnostic;
use routing_core::domain::Conversation;
use routing_core::services::events::{EventPublisher, RecordChange};
use routing_core::settings::PUBLISHER_ENVIRONMENT;
use serde_json::{json, Value};

/// Environment variables this function reads (it reads none of the common ones but
/// `RUST_LOG`: neither the table nor the configuration document).
pub const ENVIRONMENT: &[&str] = PUBLISHER_ENVIRONMENT;

/// It performs no DynamoDB table action (the stream is its trigger).
pub const TABLE_ACTIONS: &[&str] = &[];

/// The EventBridge actions it performs, on its bus only.
pub const BUS_ACTIONS: &[&str] = &["PutEvents"];

/// The sort key of conversation records: only their images are read.
const STATE_SK: &str = "STATE";

#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// The event is not a DynamoDB stream batch: retrying cannot help.
    #[error("unrecognised event: {0}")]
    BadEvent(String),
}

impl From<PublisherError> for Diagnostic {
    fn from(err: PublisherError) -> Self {
        Diagnostic {
            error_type: "NonRetryable.BadEvent".to_string(),
            error_message: err.to_string(),
        }
    }
}

/// Handle one batch of stream records: `{"batchItemFailures": [...]}` names the records to
/// retry (whose event the bus refused, or that could not be read); every other record's
/// event is published.
pub async fn handle(publisher: &EventPublisher, event: Value) -> Result<Value, PublisherError> {
    let mut failed = Vec::new();
    let mut changes = Vec::new();
    for raw in records_of(event)? {
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

/// The batch's records, each still to be read on its own: one malformed record must not
/// keep the others' events from the bus.
fn records_of(event: Value) -> Result<Vec<Value>, PublisherError> {
    let Value::Object(mut batch) = event else {
        return Err(PublisherError::BadEvent("Records: not an object".into()));
    };
    match batch.remove("Records") {
        Some(Value::Array(records)) => Ok(records),
        Some(_) => Err(PublisherError::BadEvent("Records: not a list".into())),
        None => {
            // Not a stream batch: the SDK type's own message says what it lacks.
            let err = serde_json::from_value::<StreamEvent>(Value::Object(batch)).err();
            let why = err.map_or_else(|| "missing field `Records`".to_string(), |e| e.to_string());
            Err(PublisherError::BadEvent(format!("Records: {why}")))
        }
    }
}

/// One stream record; `Err` with its id (the sequence number, else the event id) when it
/// is not a DynamoDB stream record's shape (retried, then dead-lettered).
fn read_record(raw: Value) -> Result<EventRecord, String> {
    let id = ["/dynamodb/SequenceNumber", "/eventID"]
        .iter()
        .find_map(|pointer| raw.pointer(pointer).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    serde_json::from_value(raw).map_err(|err| {
        tracing::error!(error = %err, record = %id, "a stream record cannot be read");
        id
    })
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
