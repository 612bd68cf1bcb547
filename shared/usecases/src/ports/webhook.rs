//! The webhook port: how a delivery's exact bytes are authenticated and read into domain
//! events. The adapter is Meta's wire format (`routing-core`'s `meta::webhook`).

use routing_domain::{EventKind, WebhookEvent};

use super::Secret;

/// Reads deliveries of one wire format.
pub trait WebhookFormat: Send + Sync {
    /// Check the delivery's signature header over the exact body bytes.
    fn verify(
        &self,
        app_secret: &Secret,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError>;
    /// Every event of the body; `Err` (why) when the body as a whole cannot be read.
    fn parse(&self, body: &[u8]) -> Result<ParsedWebhook, String>;
    /// What a quarantine keeps of `body`: no message text of an account not in `accounts`.
    fn quarantined_bytes(&self, body: &[u8], accounts: &[&str]) -> Vec<u8>;
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

    /// Keep an event, or the reason it was rejected at `location`.
    pub fn record(&mut self, location: String, result: Result<WebhookEvent, String>) {
        match result {
            Ok(event) => self.events.push(event),
            Err(reason) => self.rejected.push(RejectedEvent { location, reason }),
        }
    }
}
