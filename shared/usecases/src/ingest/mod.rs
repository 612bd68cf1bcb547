//! Webhook ingest: the subscription handshake, signature check, quarantine of unparseable
//! bodies, and applying every event exactly once, in timestamp order per conversation and
//! concurrently across conversations; then the trigger actions the events recorded.

mod apply;
mod batch;
mod quarantine;

pub use apply::{Applied, Delivery, EventOutcome};

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ports::{QuarantinedBody, SignatureError, StoreError, WebhookFormat};
use crate::records::{RecordError, Records};
use crate::triggers::Triggers;
use routing_domain::EpochMillis;

/// How long an applied-event key is kept (Meta retries for about an hour).
pub const APPLIED_KEY_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// How long a quarantined body is kept at most (less when a Page's
/// `timeline_retention_days` is shorter).
pub const QUARANTINE_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// How much of a quarantined body is kept (with its length and SHA-256): far under
/// DynamoDB's 400 KB item limit, whatever Meta sends.
pub const QUARANTINE_BODY_BYTES: usize = 64 * 1024;
/// How much of the reasons a quarantined body is kept with.
const QUARANTINE_REASON_BYTES: usize = 8 * 1024;
/// Conversations applied at once within one delivery.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Why the subscription handshake failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscriptionError {
    #[error("app {0:?} is not configured")]
    UnknownApp(String),
    #[error("hub.mode must be \"subscribe\"")]
    BadMode,
    #[error("hub.challenge is required")]
    MissingChallenge,
    #[error("hub.challenge must be 1 to {MAX_CHALLENGE_DIGITS} digits, as Meta sends it")]
    BadChallenge,
    #[error("hub.verify_token does not match")]
    WrongVerifyToken,
}

/// Longest `hub.challenge` echoed (Meta sends a number of about ten digits).
pub const MAX_CHALLENGE_DIGITS: usize = 64;

/// Why a delivery was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("app {0:?} is not configured")]
    UnknownApp(String),
    #[error(transparent)]
    BadSignature(#[from] SignatureError),
    #[error("events not stored: {0}")]
    /// Events could not be stored (Meta retries the delivery).
    NotStored(#[from] RecordError),
}

/// Counts for one delivery (also the POST's response body).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub events: usize,
    pub written: usize,
    pub duplicates: usize,
    pub unchanged: usize,
    pub unknown_kinds: usize,
    pub unknown_pages: usize,
    pub rejected: usize,
    pub quarantined: bool,
    /// Trigger actions executed after the events were stored.
    pub actions_executed: usize,
}

/// The ingest service: built once per container.
#[derive(Clone)]
pub struct WebhookIngest {
    records: Records,
    format: Arc<dyn WebhookFormat>,
    concurrency: usize,
    triggers: Option<Triggers>,
    batches: bool,
}

impl WebhookIngest {
    /// Ingest of deliveries in `format` (Meta's: the adapters' `MetaWebhooks`).
    pub fn new(records: Records, format: Arc<dyn WebhookFormat>) -> Self {
        WebhookIngest {
            records,
            format,
            concurrency: DEFAULT_CONCURRENCY,
            triggers: None,
            batches: true,
        }
    }

    /// Execute the trigger actions of the conversations a delivery touched, inline.
    pub fn with_triggers(mut self, triggers: Triggers) -> Self {
        self.triggers = Some(triggers);
        self
    }

    /// `false`: apply every event alone (one read and one write each), as before batches
    /// existed; for benchmarks that compare the two.
    pub fn with_batches(mut self, batches: bool) -> Self {
        self.batches = batches;
        self
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    /// `GET /webhook/{app_id}`: Meta's subscription handshake; the challenge to echo, only
    /// when it has the shape Meta sends (digits). The verify tokens are compared as SHA-256
    /// digests, in constant time: neither the content nor the length shows.
    pub fn verify_subscription<'c>(
        &self,
        app_id: &str,
        mode: Option<&str>,
        verify_token: Option<&str>,
        challenge: Option<&'c str>,
    ) -> Result<&'c str, SubscriptionError> {
        let app = self
            .records
            .config()
            .app(app_id)
            .ok_or_else(|| SubscriptionError::UnknownApp(app_id.to_string()))?;
        if mode != Some("subscribe") {
            return Err(SubscriptionError::BadMode);
        }
        let challenge = challenge.ok_or(SubscriptionError::MissingChallenge)?;
        let expected = Sha256::digest(app.verify_token.expose().as_bytes());
        let given = Sha256::digest(verify_token.unwrap_or_default().as_bytes());
        if !bool::from(expected.as_slice().ct_eq(given.as_slice())) {
            tracing::warn!(app_id, "webhook subscription refused: wrong verify token");
            return Err(SubscriptionError::WrongVerifyToken);
        }
        let digits = challenge.bytes().all(|b| b.is_ascii_digit());
        if !digits || challenge.is_empty() || challenge.len() > MAX_CHALLENGE_DIGITS {
            tracing::warn!(
                app_id,
                "webhook subscription refused: hub.challenge is not digits"
            );
            return Err(SubscriptionError::BadChallenge);
        }
        tracing::info!(app_id, "webhook subscription verified");
        Ok(challenge)
    }

    /// `POST /webhook/{app_id}`: verify, then apply every event of every entry.
    pub async fn receive(
        &self,
        app_id: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<IngestReport, ReceiveError> {
        let config = self.records.config();
        let app = config
            .app(app_id)
            .ok_or_else(|| ReceiveError::UnknownApp(app_id.to_string()))?;
        if let Err(err) = self.format.verify(&app.app_secret, body, signature) {
            tracing::warn!(app_id, error = %err, "webhook refused");
            return Err(err.into());
        }
        self.ingest(app_id, body).await.map_err(|err| {
            tracing::error!(app_id, error = %err, "webhook not applied; Meta will retry");
            ReceiveError::from(err)
        })
    }

    /// Parse and apply a verified body. Unparseable bodies and bad events are quarantined.
    pub async fn ingest(&self, app_id: &str, body: &[u8]) -> Result<IngestReport, RecordError> {
        let now = self.records.now();
        let parsed = match self.format.parse(body) {
            Ok(parsed) => parsed,
            Err(err) => {
                tracing::warn!(app_id, error = %err, "unparseable webhook body quarantined");
                self.quarantine(app_id, body, err, now).await?;
                return Ok(IngestReport {
                    quarantined: true,
                    ..IngestReport::default()
                });
            }
        };
        let mut report = IngestReport {
            events: parsed.events.len() + parsed.rejected.len(),
            rejected: parsed.rejected.len(),
            unknown_kinds: parsed.unknown_count(),
            ..IngestReport::default()
        };
        let mut problems: Vec<String> = parsed
            .rejected
            .iter()
            .map(|r| format!("{}: {}", r.location, r.reason))
            .collect();
        let delivery = self.apply_all(app_id, parsed.events).await;
        let runnable = report.count(&delivery.outcomes);
        // Triggers run inline, once their events are durable, also when another
        // conversation of the delivery failed: see docs/api.md ("Triggers run inline").
        report.actions_executed = self.execute_actions(runnable).await;
        if let Some(failure) = delivery.failure {
            return Err(failure);
        }
        if !problems.is_empty() {
            problems.dedup();
            // The events are applied: a failure to keep the body is logged, never a 500
            // (Meta's retry would change nothing).
            match self
                .quarantine(app_id, body, problems.join("; "), now)
                .await
            {
                Ok(()) => report.quarantined = true,
                Err(err) => {
                    tracing::error!(app_id, error = %err, "rejected events not quarantined")
                }
            }
        }
        report.log(app_id);
        Ok(report)
    }

    /// Execute the pending trigger actions of these conversations (when this ingest
    /// executes triggers); how many were executed. A failure leaves the action for a
    /// redelivery, a later event or the re-sync batch.
    async fn execute_actions(&self, runnable: BTreeSet<(String, String)>) -> usize {
        let Some(triggers) = &self.triggers else {
            return 0;
        };
        let executed = stream::iter(runnable)
            .map(|(page_id, psid)| async move {
                match triggers.execute(&page_id, &psid).await {
                    Ok(Some(_)) => 1,
                    Ok(None) => 0,
                    Err(err) => {
                        tracing::warn!(%page_id, error = %err, "trigger not executed; left for retry or re-sync");
                        0
                    }
                }
            })
            .buffer_unordered(self.concurrency)
            .collect::<Vec<usize>>()
            .await;
        executed.into_iter().sum()
    }

    /// Keep a body (its first [`QUARANTINE_BODY_BYTES`], no message text of a Page that is
    /// not configured, its length and SHA-256 as received) with why, no longer than the
    /// shortest timeline retention.
    async fn quarantine(
        &self,
        app_id: &str,
        body: &[u8],
        mut reason: String,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        if reason.len() > QUARANTINE_REASON_BYTES {
            let mut end = QUARANTINE_REASON_BYTES;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push_str(" …");
        }
        let config = self.records.config();
        let accounts: Vec<&str> = config.pages.iter().map(|page| page.id.as_str()).collect();
        let mut kept = self.format.quarantined_bytes(body, &accounts);
        kept.truncate(QUARANTINE_BODY_BYTES);
        self.records
            .store()
            .quarantine(QuarantinedBody {
                app_id: app_id.to_string(),
                received_at: now,
                body: kept,
                body_len: body.len(),
                body_sha256: hex::encode(Sha256::digest(body)),
                reason,
                expires_at: now / 1000 + quarantine::quarantine_retention_secs(config),
            })
            .await
    }
}

impl IngestReport {
    /// Count each event's outcome; the conversations that may hold a runnable action.
    fn count(
        &mut self,
        outcomes: &[(routing_domain::WebhookEvent, EventOutcome)],
    ) -> BTreeSet<(String, String)> {
        let mut runnable = BTreeSet::new();
        for (event, outcome) in outcomes {
            if outcome.action_runnable {
                let psid = event.psid.clone().unwrap_or_default();
                runnable.insert((event.page_id.clone(), psid));
            }
            match outcome.applied {
                Applied::Written => self.written += 1,
                Applied::Duplicate => self.duplicates += 1,
                Applied::Unchanged => self.unchanged += 1,
                // Counted and logged by Page id; the customers' text is not kept.
                Applied::UnknownPage => self.unknown_pages += 1,
            }
        }
        runnable
    }

    fn log(&self, app_id: &str) {
        tracing::info!(
            app_id,
            events = self.events,
            written = self.written,
            duplicates = self.duplicates,
            unchanged = self.unchanged,
            unknown_kinds = self.unknown_kinds,
            rejected = self.rejected,
            "webhook applied"
        );
    }
}
