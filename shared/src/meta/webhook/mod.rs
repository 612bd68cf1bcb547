//! Meta's webhook wire format: signature verification, and parsing of every entry and
//! every event (`messaging`, `standby` and the dashboard's `changes` test format) into
//! domain events.
//!
//! Parsing never fails the whole body because of one odd event: unknown kinds are kept as
//! [`EventKind::Unknown`](routing_domain::EventKind), malformed events are returned as
//! [`RejectedEvent`]s so the caller can quarantine the body while still applying the rest.

mod envelope;
mod event;
pub mod quarantine;
mod signature;

pub use envelope::{parse_webhook, EnvelopeError};
pub use routing_usecases::ports::{ParsedWebhook, RejectedEvent, SignatureError};
pub use signature::{sign, verify_signature};

use std::sync::Arc;

use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::{Secret, WebhookFormat};
use routing_usecases::records::Records;

/// Meta's webhooks (Messenger Platform), the ingest use case's [`WebhookFormat`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MetaWebhooks;

impl MetaWebhooks {
    /// The ingest use case over Meta's webhooks.
    pub fn ingest(records: Records) -> WebhookIngest {
        WebhookIngest::new(records, Arc::new(MetaWebhooks))
    }
}

impl WebhookFormat for MetaWebhooks {
    fn verify(
        &self,
        app_secret: &Secret,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        verify_signature(app_secret.expose().as_bytes(), body, signature)
    }

    fn parse(&self, body: &[u8]) -> Result<ParsedWebhook, String> {
        parse_webhook(body).map_err(|err| err.to_string())
    }

    fn quarantined_bytes(&self, body: &[u8], accounts: &[&str]) -> Vec<u8> {
        quarantine::kept_body(accounts, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routing_domain::EventKind;
    use serde_json::{json, Value};

    fn parse(v: Value) -> ParsedWebhook {
        parse_webhook(v.to_string().as_bytes()).expect("envelope parses")
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
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1_700_000_000_005_i64,"message":"not an object"},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1_700_000_000_005_i64,"message":{"mid":"m2","text":"ok"}}]}]}),
        );
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].location, "entry[0].messaging[0]");
        assert!(parsed.rejected[0].reason.contains("message"));
    }

    #[test]
    fn applied_event_keys_use_mid_or_a_stable_hash() {
        let parsed = parse(
            json!({"object":"page","entry":[{"id":"P","time":1,"messaging":[
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1_700_000_000_005_i64,"message":{"mid":"m2","text":"ok"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1_700_000_000_005_i64,
             "pass_thread_control":{"new_owner_app_id":"2","metadata":"x"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1_700_000_000_006_i64,
             "pass_thread_control":{"new_owner_app_id":"2","metadata":"x"}}]}]}),
        );
        let keys: Vec<String> = parsed.events.iter().map(|e| e.applied_key("9")).collect();
        assert_eq!(keys[0], "message:m2:9:messaging");
        assert!(keys[1].starts_with("pass_thread_control:"));
        assert_ne!(
            keys[1], keys[2],
            "different timestamps are different events"
        );
        assert_eq!(keys[1], parsed.events[1].applied_key("9"), "stable");
        assert_ne!(
            keys[1],
            parsed.events[1].applied_key("8"),
            "per receiving app"
        );
    }
}
