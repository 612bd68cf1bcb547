//! The envelope `{"object":"page","entry":[...]}`: every entry's `messaging`, `standby`
//! and (the dashboard's test button) `changes` lists.

use serde_json::{Map, Value};

use super::event::{parse_event, time_field};
use routing_domain::{EpochMillis, EventKind, Feed, WebhookEvent};
use routing_usecases::ports::{ParsedWebhook, RejectedEvent};

use crate::meta::json as meta_json;

/// The body as a whole is not a Messenger webhook.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("object is {0:?}, expected \"page\"")]
    WrongObject(String),
    #[error("entry is missing or not an array")]
    NoEntries,
}

/// Parse a webhook body (the exact bytes received).
pub fn parse_webhook(body: &[u8]) -> Result<ParsedWebhook, EnvelopeError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let root = value.as_object().ok_or(EnvelopeError::NotAnObject)?;
    match root.get("object").and_then(Value::as_str) {
        Some("page") => {}
        Some(other) => return Err(EnvelopeError::WrongObject(other.to_string())),
        None => return Err(EnvelopeError::WrongObject(String::new())),
    }
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(EnvelopeError::NoEntries)?;
    let mut parsed = ParsedWebhook::default();
    for (i, entry) in entries.iter().enumerate() {
        match entry.as_object() {
            Some(entry) => parse_entry(&mut parsed, i, entry),
            None => parsed.rejected.push(RejectedEvent {
                location: format!("entry[{i}]"),
                reason: "entry is not an object".into(),
            }),
        }
    }
    Ok(parsed)
}

/// What an entry says about all its events: the Page and the entry's time (or why its
/// `time` is not one: events that carry no timestamp of their own are then rejected).
#[derive(Clone, Copy)]
pub(super) struct EntryContext<'a> {
    pub page_id: Option<&'a str>,
    pub time: Option<Result<EpochMillis, &'a str>>,
}

fn parse_entry(parsed: &mut ParsedWebhook, i: usize, entry: &Map<String, Value>) {
    let page_id = entry.get("id").and_then(meta_json::id);
    let time = entry.get("time").map(|t| time_field(t, "entry time"));
    let context = EntryContext {
        page_id: page_id.as_deref(),
        time: time
            .as_ref()
            .map(|t| t.as_ref().copied().map_err(String::as_str)),
    };
    for (list, feed) in [("messaging", Feed::Messaging), ("standby", Feed::Standby)] {
        let Some(events) = entry.get(list) else {
            continue;
        };
        let Some(events) = events.as_array() else {
            parsed.rejected.push(RejectedEvent {
                location: format!("entry[{i}].{list}"),
                reason: format!("{list} is not an array"),
            });
            continue;
        };
        for (j, event) in events.iter().enumerate() {
            let location = format!("entry[{i}].{list}[{j}]");
            parsed.record(location, parse_event(event, context, feed));
        }
    }
    if let Some(changes) = entry.get("changes").and_then(Value::as_array) {
        for (j, change) in changes.iter().enumerate() {
            let location = format!("entry[{i}].changes[{j}]");
            parsed.record(location, parse_change(change, context));
        }
    }
}

/// A dashboard test sample (`changes[]`): parsed like an event, never applied.
fn parse_change(change: &Value, context: EntryContext<'_>) -> Result<WebhookEvent, String> {
    let value = change.get("value").unwrap_or(&Value::Null);
    if value.is_object() {
        return parse_event(value, context, Feed::DashboardTest);
    }
    let field = change
        .get("field")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    Ok(WebhookEvent {
        page_id: context.page_id.unwrap_or_default().to_string(),
        psid: None,
        feed: Feed::DashboardTest,
        timestamp: context.time.and_then(Result::ok),
        kind: EventKind::Unknown {
            kind: field.to_string(),
        },
    })
}
