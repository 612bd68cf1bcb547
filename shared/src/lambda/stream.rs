//! The table's DynamoDB stream as Lambda delivers it, read in one place for timed-reset and
//! event-publisher: a batch's records, each read on its own (one malformed record fails
//! alone), a conversation record's old and new images, and the lease a TTL deletion
//! removed. Keys are read with the key layout of `store::keys`.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use routing_domain::Conversation;
use routing_usecases::business_events::RecordChange;
use serde_json::Value;

use super::InvocationError;
use crate::store::keys::{conversation_of_pk, LEASE_SK, STATE_SK};

/// A record's id for Lambda's partial batch response: its sequence number, else its
/// event id.
pub fn record_id(record: &EventRecord) -> String {
    record
        .change
        .sequence_number
        .clone()
        .unwrap_or_else(|| record.event_id.clone())
}

/// The lease a stream record removed by TTL, when it is one (see
/// [`lease_of_stream_record`]).
pub fn lease_of(record: &EventRecord) -> Option<(String, String)> {
    let text = |name: &str| match record.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    let identity = record.user_identity.as_ref();
    lease_of_stream_record(
        &record.event_name,
        identity.map(|i| i.principal_id.as_str()),
        identity.map(|i| i.type_.as_str()),
        text("pk"),
        text("sk"),
    )
}

/// The lease a DynamoDB stream record is about, when the record is a TTL deletion of a
/// lease item (`REMOVE` by the principal `dynamodb.amazonaws.com`); `None` for anything
/// else (user deletions, inserts, modifications, other items).
pub fn lease_of_stream_record(
    event_name: &str,
    principal_id: Option<&str>,
    identity_type: Option<&str>,
    pk: Option<&str>,
    sk: Option<&str>,
) -> Option<(String, String)> {
    let ttl_deletion = event_name == "REMOVE"
        && principal_id == Some("dynamodb.amazonaws.com")
        && identity_type.is_none_or(|t| t == "Service");
    if !ttl_deletion || sk != Some(LEASE_SK) {
        return None;
    }
    let (page_id, psid) = conversation_of_pk(pk?)?;
    Some((page_id.to_string(), psid.to_string()))
}

/// The batch's records, each still to be read on its own: one malformed record must not
/// keep the others' events from the bus.
pub fn records_of(event: Value) -> Result<Vec<Value>, InvocationError> {
    let Value::Object(mut batch) = event else {
        return Err(InvocationError::BadEvent("Records: not an object".into()));
    };
    match batch.remove("Records") {
        Some(Value::Array(records)) => Ok(records),
        Some(_) => Err(InvocationError::BadEvent("Records: not a list".into())),
        None => {
            // Not a stream batch: the SDK type's own message says what it lacks.
            let err = serde_json::from_value::<StreamEvent>(Value::Object(batch)).err();
            let why = err.map_or_else(|| "missing field `Records`".to_string(), |e| e.to_string());
            Err(InvocationError::BadEvent(format!("Records: {why}")))
        }
    }
}

/// One stream record; `Err` with its id (the sequence number, else the event id) when it
/// is not a DynamoDB stream record's shape (retried, then dead-lettered).
pub fn read_record(raw: Value) -> Result<EventRecord, String> {
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
pub fn change_of(record: &EventRecord) -> Result<Option<RecordChange>, String> {
    let id = record_id(record);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ttl_deletions_of_lease_items_are_leases() {
        let ttl = |pk: &str, sk: &str| {
            lease_of_stream_record(
                "REMOVE",
                Some("dynamodb.amazonaws.com"),
                Some("Service"),
                Some(pk),
                Some(sk),
            )
        };
        assert_eq!(
            ttl("CONV#111#222", "LEASE"),
            Some(("111".to_string(), "222".to_string()))
        );
        assert_eq!(ttl("CONV#111#222", "STATE"), None);
        assert_eq!(ttl("CONV#111#222", "TL#0000000000001#x"), None);
        assert_eq!(ttl("QUARANTINE#1001", "LEASE"), None);
        assert_eq!(ttl("CONV#111", "LEASE"), None);
        // A user deletion (our own transaction removing the lease) is not a TTL expiry.
        assert_eq!(
            lease_of_stream_record(
                "REMOVE",
                Some("AROAEXAMPLE:timed-reset"),
                None,
                Some("CONV#1#2"),
                Some("LEASE")
            ),
            None
        );
        assert_eq!(
            lease_of_stream_record(
                "MODIFY",
                Some("dynamodb.amazonaws.com"),
                Some("Service"),
                Some("CONV#1#2"),
                Some("LEASE")
            ),
            None
        );
    }
}
