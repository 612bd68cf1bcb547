//! Messenger webhook envelopes: signature verification and parsing of every entry and
//! every event (`messaging`, `standby` and the dashboard's `changes` test format).
//!
//! Parsing never fails the whole body because of one odd event: unknown kinds are kept as
//! [`EventKind::Unknown`], malformed events are returned as [`RejectedEvent`]s so the
//! caller can quarantine the body while still applying the rest.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::{normalise_timestamp, EpochMillis};

/// Where an event arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// The receiving app controls the thread.
    Messaging,
    /// The receiving app does not control the thread.
    Standby,
    /// The app dashboard's "test" button (`entry[].changes`): sample data, never applied.
    DashboardTest,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Messaging => "messaging",
            Channel::Standby => "standby",
            Channel::DashboardTest => "changes",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A customer message (text, quick reply, attachments).
    Message {
        mid: String,
        text: Option<String>,
        quick_reply_payload: Option<String>,
        attachments: u32,
    },
    /// The echo of a message the Page sent; `app_id` is the app that sent it.
    Echo {
        mid: String,
        app_id: Option<String>,
        text: Option<String>,
        metadata: Option<String>,
        attachments: u32,
    },
    /// A postback button tap; on `standby` it carries no payload.
    Postback {
        mid: Option<String>,
        title: Option<String>,
        payload: Option<String>,
    },
    Read {
        watermark: Option<EpochMillis>,
    },
    Delivery {
        watermark: Option<EpochMillis>,
        mids: Vec<String>,
    },
    PassThreadControl {
        previous_owner_app_id: Option<String>,
        new_owner_app_id: Option<String>,
        metadata: Option<String>,
    },
    TakeThreadControl {
        previous_owner_app_id: Option<String>,
        new_owner_app_id: Option<String>,
        metadata: Option<String>,
    },
    RequestThreadControl {
        requested_owner_app_id: Option<String>,
        metadata: Option<String>,
    },
    /// `app_roles:{"<app_id>":["primary_receiver"|...]}` (Page-level, no customer).
    AppRoles {
        roles: Vec<(String, Vec<String>)>,
    },
    /// A kind we do not handle; kept and counted, never a parse failure.
    Unknown {
        kind: String,
    },
}

impl EventKind {
    /// Whether this kind can change a conversation's record (reads, deliveries, Page-level
    /// and unknown kinds never do, so they are not even read).
    pub fn touches_conversation(&self) -> bool {
        !matches!(
            self,
            EventKind::Read { .. }
                | EventKind::Delivery { .. }
                | EventKind::AppRoles { .. }
                | EventKind::Unknown { .. }
        )
    }

    /// A short name for logs and metrics (never the content).
    pub fn name(&self) -> &str {
        match self {
            EventKind::Message { .. } => "message",
            EventKind::Echo { .. } => "echo",
            EventKind::Postback { .. } => "postback",
            EventKind::Read { .. } => "read",
            EventKind::Delivery { .. } => "delivery",
            EventKind::PassThreadControl { .. } => "pass_thread_control",
            EventKind::TakeThreadControl { .. } => "take_thread_control",
            EventKind::RequestThreadControl { .. } => "request_thread_control",
            EventKind::AppRoles { .. } => "app_roles",
            EventKind::Unknown { kind } => kind,
        }
    }
}

/// One event of one entry, with the customer (PSID) already worked out: for echoes the
/// customer is the recipient, for everything else the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    pub page_id: String,
    pub psid: Option<String>,
    pub channel: Channel,
    /// Normalised to milliseconds; from the event, else from the entry's `time`.
    pub timestamp: Option<EpochMillis>,
    pub kind: EventKind,
}

impl WebhookEvent {
    /// The exactly-once key of this delivery to `receiving_app`: the message id where there
    /// is one, else a hash of page, customer, kind, timestamp and app ids.
    pub fn dedupe_key(&self, receiving_app: &str) -> String {
        let channel = self.channel.as_str();
        match &self.kind {
            EventKind::Message { mid, .. } | EventKind::Echo { mid, .. } => {
                format!("{}:{mid}:{receiving_app}:{channel}", self.kind.name())
            }
            EventKind::Postback { mid: Some(mid), .. } => {
                format!("postback:{mid}:{receiving_app}:{channel}")
            }
            kind => {
                let mut hasher = Sha256::new();
                for part in [
                    self.page_id.as_str(),
                    self.psid.as_deref().unwrap_or(""),
                    kind.name(),
                    &self.timestamp.unwrap_or_default().to_string(),
                    receiving_app,
                    channel,
                    &app_ids_of(kind),
                ] {
                    hasher.update(part.as_bytes());
                    hasher.update([0u8]);
                }
                let digest = hex::encode(hasher.finalize());
                format!("{}:{}", kind.name(), &digest[..32])
            }
        }
    }
}

fn app_ids_of(kind: &EventKind) -> String {
    match kind {
        EventKind::PassThreadControl {
            previous_owner_app_id,
            new_owner_app_id,
            metadata,
        }
        | EventKind::TakeThreadControl {
            previous_owner_app_id,
            new_owner_app_id,
            metadata,
        } => format!(
            "{}>{}|{}",
            previous_owner_app_id.as_deref().unwrap_or(""),
            new_owner_app_id.as_deref().unwrap_or(""),
            metadata.as_deref().unwrap_or("")
        ),
        EventKind::RequestThreadControl {
            requested_owner_app_id,
            metadata,
        } => format!(
            "{}|{}",
            requested_owner_app_id.as_deref().unwrap_or(""),
            metadata.as_deref().unwrap_or("")
        ),
        EventKind::Postback { title, payload, .. } => format!(
            "{}|{}",
            title.as_deref().unwrap_or(""),
            payload.as_deref().unwrap_or("")
        ),
        _ => String::new(),
    }
}

/// An event that could not be understood (for example a message without `mid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedEvent {
    /// Where it was: `entry[0].messaging[2]`.
    pub location: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedWebhook {
    pub events: Vec<WebhookEvent>,
    pub rejected: Vec<RejectedEvent>,
}

impl ParsedWebhook {
    pub fn unknown_count(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Unknown { .. }))
            .count()
    }
}

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
        let Some(entry) = entry.as_object() else {
            parsed.rejected.push(RejectedEvent {
                location: format!("entry[{i}]"),
                reason: "entry is not an object".into(),
            });
            continue;
        };
        let page_id = entry.get("id").and_then(id_of);
        let entry_time = entry.get("time").and_then(as_i64).map(normalise_timestamp);
        for (list, channel) in [
            ("messaging", Channel::Messaging),
            ("standby", Channel::Standby),
        ] {
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
                match parse_event(event, page_id.as_deref(), entry_time, channel) {
                    Ok(event) => parsed.events.push(event),
                    Err(reason) => parsed.rejected.push(RejectedEvent { location, reason }),
                }
            }
        }
        if let Some(changes) = entry.get("changes").and_then(Value::as_array) {
            for (j, change) in changes.iter().enumerate() {
                let location = format!("entry[{i}].changes[{j}]");
                let value = change.get("value").unwrap_or(&Value::Null);
                let field = change
                    .get("field")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                let result = if value.is_object() {
                    parse_event(
                        value,
                        page_id.as_deref(),
                        entry_time,
                        Channel::DashboardTest,
                    )
                } else {
                    Ok(WebhookEvent {
                        page_id: page_id.clone().unwrap_or_default(),
                        psid: None,
                        channel: Channel::DashboardTest,
                        timestamp: entry_time,
                        kind: EventKind::Unknown {
                            kind: field.to_string(),
                        },
                    })
                };
                match result {
                    Ok(event) => parsed.events.push(event),
                    Err(reason) => parsed.rejected.push(RejectedEvent { location, reason }),
                }
            }
        }
    }
    Ok(parsed)
}

const ENVELOPE_KEYS: [&str; 3] = ["sender", "recipient", "timestamp"];

fn parse_event(
    event: &Value,
    entry_page: Option<&str>,
    entry_time: Option<EpochMillis>,
    channel: Channel,
) -> Result<WebhookEvent, String> {
    let event = event
        .as_object()
        .ok_or_else(|| "event is not an object".to_string())?;
    let sender = event
        .get("sender")
        .and_then(|s| s.get("id"))
        .and_then(id_of);
    let recipient = event
        .get("recipient")
        .and_then(|s| s.get("id"))
        .and_then(id_of);
    let timestamp = event
        .get("timestamp")
        .and_then(as_i64)
        .map(normalise_timestamp)
        .or(entry_time);

    let mut customer_is_recipient = false;
    let kind = if let Some(message) = event.get("message") {
        let message = message
            .as_object()
            .ok_or_else(|| "message is not an object".to_string())?;
        let mid = str_field(message, "mid").ok_or_else(|| "message without mid".to_string())?;
        let text = str_field(message, "text");
        let attachments = message
            .get("attachments")
            .and_then(Value::as_array)
            .map_or(0, |a| u32::try_from(a.len()).unwrap_or(u32::MAX));
        if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
            customer_is_recipient = true;
            EventKind::Echo {
                mid,
                app_id: message.get("app_id").and_then(id_of),
                text,
                metadata: str_field(message, "metadata"),
                attachments,
            }
        } else {
            EventKind::Message {
                mid,
                text,
                quick_reply_payload: message
                    .get("quick_reply")
                    .and_then(Value::as_object)
                    .and_then(|qr| str_field(qr, "payload")),
                attachments,
            }
        }
    } else if let Some(postback) = event.get("postback") {
        let postback = postback
            .as_object()
            .ok_or_else(|| "postback is not an object".to_string())?;
        EventKind::Postback {
            mid: str_field(postback, "mid"),
            title: str_field(postback, "title"),
            payload: str_field(postback, "payload"),
        }
    } else if let Some(read) = event.get("read") {
        EventKind::Read {
            watermark: read
                .get("watermark")
                .and_then(as_i64)
                .map(normalise_timestamp),
        }
    } else if let Some(delivery) = event.get("delivery") {
        EventKind::Delivery {
            watermark: delivery
                .get("watermark")
                .and_then(as_i64)
                .map(normalise_timestamp),
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
    } else if let Some(pass) = event.get("pass_thread_control") {
        let pass = handover_object(pass, "pass_thread_control")?;
        EventKind::PassThreadControl {
            previous_owner_app_id: pass.get("previous_owner_app_id").and_then(id_of),
            new_owner_app_id: pass.get("new_owner_app_id").and_then(id_of),
            metadata: str_field(pass, "metadata"),
        }
    } else if let Some(take) = event.get("take_thread_control") {
        let take = handover_object(take, "take_thread_control")?;
        EventKind::TakeThreadControl {
            previous_owner_app_id: take.get("previous_owner_app_id").and_then(id_of),
            new_owner_app_id: take.get("new_owner_app_id").and_then(id_of),
            metadata: str_field(take, "metadata"),
        }
    } else if let Some(request) = event.get("request_thread_control") {
        let request = handover_object(request, "request_thread_control")?;
        EventKind::RequestThreadControl {
            requested_owner_app_id: request.get("requested_owner_app_id").and_then(id_of),
            metadata: str_field(request, "metadata"),
        }
    } else if let Some(roles) = event.get("app_roles") {
        let roles = roles
            .as_object()
            .ok_or_else(|| "app_roles is not an object".to_string())?;
        EventKind::AppRoles {
            roles: roles
                .iter()
                .map(|(app, list)| {
                    let names = list
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .filter_map(|r| r.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    (app.clone(), names)
                })
                .collect(),
        }
    } else {
        let kind = event
            .keys()
            .find(|k| !ENVELOPE_KEYS.contains(&k.as_str()))
            .cloned()
            .unwrap_or_else(|| "empty".to_string());
        EventKind::Unknown { kind }
    };

    let psid = if matches!(kind, EventKind::AppRoles { .. }) {
        None
    } else if customer_is_recipient {
        recipient.clone()
    } else {
        sender.clone()
    };
    let needs_customer = !matches!(kind, EventKind::AppRoles { .. } | EventKind::Unknown { .. });
    if needs_customer && psid.is_none() {
        return Err(format!(
            "{} without {}.id",
            kind.name(),
            if customer_is_recipient {
                "recipient"
            } else {
                "sender"
            }
        ));
    }
    let page_id = entry_page
        .map(str::to_string)
        .or(if customer_is_recipient {
            sender
        } else {
            recipient
        })
        .ok_or_else(|| "no page id in entry.id or the event".to_string())?;

    Ok(WebhookEvent {
        page_id,
        psid,
        channel,
        timestamp,
        kind,
    })
}

fn handover_object<'a>(value: &'a Value, name: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{name} is not an object"))
}

/// Ids arrive as strings or as numbers.
fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn str_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Why a delivery's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("X-Hub-Signature-256 is not of the form sha256=<hex>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

type HmacSha256 = Hmac<Sha256>;

/// Check `X-Hub-Signature-256: sha256=<hex>` over the exact body bytes, in constant time.
pub fn verify_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(app_secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value Meta would send for `body`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(app_secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> ParsedWebhook {
        parse_webhook(v.to_string().as_bytes()).expect("envelope parses")
    }

    #[test]
    fn signature_round_trip_and_failures() {
        let body = br#"{"object":"page","entry":[]}"#;
        let header = sign(b"secret", body);
        assert!(header.starts_with("sha256="));
        assert_eq!(verify_signature(b"secret", body, Some(&header)), Ok(()));
        assert_eq!(
            verify_signature(b"other", body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"secret", b"{}", Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"secret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("sha256=abcd")),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn envelope_errors() {
        assert!(matches!(
            parse_webhook(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(parse_webhook(b"[1]"), Err(EnvelopeError::NotAnObject));
        assert_eq!(
            parse_webhook(br#"{"object":"instagram","entry":[]}"#),
            Err(EnvelopeError::WrongObject("instagram".into()))
        );
        assert_eq!(
            parse_webhook(br#"{"object":"page"}"#),
            Err(EnvelopeError::NoEntries)
        );
    }

    #[test]
    fn echo_customer_is_the_recipient() {
        let parsed = parse(
            json!({"object":"page","entry":[{"id":"P","time":1,"messaging":[
            {"sender":{"id":"P"},"recipient":{"id":"U"},"timestamp":1_700_000_000_000_i64,
             "message":{"is_echo":true,"app_id":263902037430900_i64,"mid":"m1","text":"hi"}}]}]}),
        );
        assert_eq!(parsed.events[0].psid.as_deref(), Some("U"));
        assert_eq!(
            parsed.events[0].kind,
            EventKind::Echo {
                mid: "m1".into(),
                app_id: Some("263902037430900".into()),
                text: Some("hi".into()),
                metadata: None,
                attachments: 0
            }
        );
    }

    #[test]
    fn malformed_events_are_rejected_alone() {
        let parsed = parse(
            json!({"object":"page","entry":[{"id":"P","time":1,"messaging":[
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":5,"message":{"text":"no mid"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":5,"message":{"mid":"m2","text":"ok"}}]}]}),
        );
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].location, "entry[0].messaging[0]");
        assert!(parsed.rejected[0].reason.contains("mid"));
    }

    #[test]
    fn dedupe_keys_use_mid_or_a_stable_hash() {
        let parsed = parse(
            json!({"object":"page","entry":[{"id":"P","time":1,"messaging":[
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":5,"message":{"mid":"m2","text":"ok"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":5,
             "pass_thread_control":{"new_owner_app_id":"2","metadata":"x"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":6,
             "pass_thread_control":{"new_owner_app_id":"2","metadata":"x"}}]}]}),
        );
        let keys: Vec<String> = parsed.events.iter().map(|e| e.dedupe_key("9")).collect();
        assert_eq!(keys[0], "message:m2:9:messaging");
        assert!(keys[1].starts_with("pass_thread_control:"));
        assert_ne!(
            keys[1], keys[2],
            "different timestamps are different events"
        );
        assert_eq!(keys[1], parsed.events[1].dedupe_key("9"), "stable");
        assert_ne!(
            keys[1],
            parsed.events[1].dedupe_key("8"),
            "per receiving app"
        );
    }
}
