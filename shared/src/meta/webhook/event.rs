//! One event of an entry: its kind, the customer it concerns (the recipient of an echo,
//! the sender of anything else), the Page, and its time.

use serde_json::{Map, Value};

use super::envelope::EntryContext;
use crate::meta::json as meta_json;
use routing_domain::{plausible_time, EpochMillis, EventKind, Feed, WebhookEvent};

type Object = Map<String, Value>;

const ENVELOPE_KEYS: [&str; 3] = ["sender", "recipient", "timestamp"];

pub(super) fn parse_event(
    event: &Value,
    entry: EntryContext<'_>,
    feed: Feed,
) -> Result<WebhookEvent, String> {
    let event = event
        .as_object()
        .ok_or_else(|| "event is not an object".to_string())?;
    let party = |name: &str| {
        event
            .get(name)
            .and_then(|s| s.get("id"))
            .and_then(meta_json::id)
    };
    let (sender, recipient) = (party("sender"), party("recipient"));
    let timestamp = match event.get("timestamp") {
        Some(value) => Some(time_field(value, "timestamp")?),
        None => entry.time.transpose().map_err(str::to_string)?,
    };
    let kind = parse_kind(event)?;
    // For echoes the customer is the recipient, for everything else the sender.
    let customer_is_recipient = matches!(kind, EventKind::Echo { .. });
    let (customer, page) = if customer_is_recipient {
        (recipient, sender)
    } else {
        (sender, recipient)
    };
    // `app_roles` is Page-level: no customer.
    let psid = match kind {
        EventKind::AppRoles { .. } => None,
        _ => customer,
    };
    let needs_customer = !matches!(kind, EventKind::AppRoles { .. } | EventKind::Unknown { .. });
    if needs_customer && psid.is_none() {
        let field = if customer_is_recipient {
            "recipient"
        } else {
            "sender"
        };
        return Err(format!("{} without {field}.id", kind.name()));
    }
    let page_id = entry
        .page_id
        .map(str::to_string)
        .or(page)
        .ok_or_else(|| "no page id in entry.id or the event".to_string())?;
    Ok(WebhookEvent {
        page_id,
        psid,
        feed,
        timestamp,
        kind,
    })
}

/// The event's kind, from the first field that names one.
fn parse_kind(event: &Object) -> Result<EventKind, String> {
    if let Some(message) = event.get("message") {
        return parse_message(object(message, "message")?);
    }
    if let Some(postback) = event.get("postback") {
        let postback = object(postback, "postback")?;
        return Ok(EventKind::Postback {
            mid: str_field(postback, "mid"),
            title: str_field(postback, "title"),
            payload: str_field(postback, "payload"),
        });
    }
    if let Some(read) = event.get("read") {
        return Ok(EventKind::Read {
            watermark: watermark(read),
        });
    }
    if let Some(delivery) = event.get("delivery") {
        return Ok(parse_delivery(delivery));
    }
    if let Some(kind) = parse_handover(event)? {
        return Ok(kind);
    }
    if let Some(roles) = event.get("app_roles") {
        return parse_app_roles(object(roles, "app_roles")?);
    }
    let kind = event
        .keys()
        .find(|k| !ENVELOPE_KEYS.contains(&k.as_str()))
        .cloned()
        .unwrap_or_else(|| "empty".to_string());
    Ok(EventKind::Unknown { kind })
}

/// A customer message or the echo of one the Page sent; without a `mid`, a message Meta
/// wrote itself.
fn parse_message(message: &Object) -> Result<EventKind, String> {
    let text = str_field(message, "text");
    let Some(mid) = str_field(message, "mid") else {
        let text = str_field(message, "admin_text").or(text);
        return Ok(EventKind::SystemMessage { text });
    };
    let attachments = message
        .get("attachments")
        .and_then(Value::as_array)
        .map_or(0, |a| u32::try_from(a.len()).unwrap_or(u32::MAX));
    if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
        return Ok(EventKind::Echo {
            mid,
            app_id: message.get("app_id").and_then(meta_json::id),
            text,
            metadata: str_field(message, "metadata"),
            attachments,
        });
    }
    Ok(EventKind::Message {
        mid,
        text,
        quick_reply_payload: message
            .get("quick_reply")
            .and_then(Value::as_object)
            .and_then(|qr| str_field(qr, "payload")),
        attachments,
    })
}

fn parse_delivery(delivery: &Value) -> EventKind {
    EventKind::Delivery {
        watermark: watermark(delivery),
        mids: delivery
            .get("mids")
            .and_then(Value::as_array)
            .map(|mids| {
                mids.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `pass_thread_control`, `take_thread_control` or `request_thread_control`.
fn parse_handover(event: &Object) -> Result<Option<EventKind>, String> {
    let app = |o: &Object, name: &str| o.get(name).and_then(meta_json::id);
    if let Some(pass) = event.get("pass_thread_control") {
        let pass = object(pass, "pass_thread_control")?;
        return Ok(Some(EventKind::PassThreadControl {
            previous_owner_app_id: app(pass, "previous_owner_app_id"),
            new_owner_app_id: app(pass, "new_owner_app_id"),
            metadata: str_field(pass, "metadata"),
        }));
    }
    if let Some(take) = event.get("take_thread_control") {
        let take = object(take, "take_thread_control")?;
        return Ok(Some(EventKind::TakeThreadControl {
            previous_owner_app_id: app(take, "previous_owner_app_id"),
            new_owner_app_id: app(take, "new_owner_app_id"),
            metadata: str_field(take, "metadata"),
        }));
    }
    if let Some(request) = event.get("request_thread_control") {
        let request = object(request, "request_thread_control")?;
        return Ok(Some(EventKind::RequestThreadControl {
            requested_owner_app_id: app(request, "requested_owner_app_id"),
            metadata: str_field(request, "metadata"),
        }));
    }
    Ok(None)
}

/// `app_roles:{"<app_id>":["primary_receiver"|...]}` (Page-level, no customer).
fn parse_app_roles(roles: &Object) -> Result<EventKind, String> {
    let names = |list: &Value| {
        list.as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(EventKind::AppRoles {
        roles: roles
            .iter()
            .map(|(app, list)| (app.clone(), names(list)))
            .collect(),
    })
}

/// A watermark (informational only): none when it is not a plausible time.
fn watermark(value: &Value) -> Option<EpochMillis> {
    value
        .get("watermark")
        .and_then(|w| time_field(w, "watermark").ok())
}

/// A time field of the body (seconds or milliseconds), or why it is not a time.
pub(super) fn time_field(value: &Value, name: &str) -> Result<EpochMillis, String> {
    meta_json::integer(value)
        .and_then(plausible_time)
        .ok_or_else(|| format!("{name} {value} is not a plausible time (2004-2099, in s or ms)"))
}

fn object<'a>(value: &'a Value, name: &str) -> Result<&'a Object, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{name} is not an object"))
}

fn str_field(object: &Object, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_string)
}
