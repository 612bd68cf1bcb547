//! Webhook ingest: the subscription handshake, signature check, quarantine of unparseable
//! bodies, and applying every event exactly once, in timestamp order per conversation and
//! concurrently across conversations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::config::CoordinatorConfig;
use crate::domain::{Clock, EpochMillis};
use crate::handoff::ControlService;
use crate::http::{ApiError, Reply};
use crate::store::{ConversationWrite, QuarantinedBody, Store, StoreError, WriteOutcome};
use crate::transition::{apply_event, Decision, EventContext};
use crate::webhook::{parse_webhook, verify_signature, WebhookEvent};

/// How long an applied-event key is kept (Meta retries for about an hour).
pub const DEDUPE_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// How long a quarantined body is kept.
pub const QUARANTINE_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// Conversations applied at once within one delivery.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Attempts at one event when other writers keep changing the record.
const MAX_ATTEMPTS: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the conversation kept changing; gave up after {MAX_ATTEMPTS} attempts")]
    Contention,
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Written,
    /// Written, and the record now holds a trigger's action waiting to be executed.
    WrittenActionPending,
    Duplicate,
    /// Nothing to write (reads, deliveries, unknown kinds, dashboard test samples).
    Unchanged,
    /// The event's Page is not configured.
    UnknownPage,
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

/// The ingest service: configuration, store and clock, built once per container.
#[derive(Clone)]
pub struct WebhookIngest {
    config: Arc<CoordinatorConfig>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    actions: Option<ControlService>,
}

impl WebhookIngest {
    pub fn new(
        config: Arc<CoordinatorConfig>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        WebhookIngest {
            config,
            store,
            clock,
            concurrency: DEFAULT_CONCURRENCY,
            actions: None,
        }
    }

    /// Execute recorded trigger actions inline through this control service.
    pub fn with_actions(mut self, actions: ControlService) -> Self {
        self.actions = Some(actions);
        self
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `GET /webhook/{app_id}`: Meta's subscription handshake.
    pub fn verify_subscription(
        &self,
        app_id: &str,
        mode: Option<&str>,
        verify_token: Option<&str>,
        challenge: Option<&str>,
    ) -> Reply {
        let Some(app) = self.config.app(app_id) else {
            return unknown_app(app_id);
        };
        if mode != Some("subscribe") {
            return ApiError::bad_request("bad_hub_mode", "hub.mode must be \"subscribe\"").reply();
        }
        let Some(challenge) = challenge else {
            return ApiError::bad_request("missing_hub_challenge", "hub.challenge is required")
                .reply();
        };
        let expected = app.verify_token.expose().as_bytes();
        let given = verify_token.unwrap_or_default().as_bytes();
        if bool::from(expected.ct_eq(given)) {
            tracing::info!(app_id, "webhook subscription verified");
            Reply::text(200, challenge)
        } else {
            tracing::warn!(app_id, "webhook subscription refused: wrong verify token");
            ApiError::forbidden("bad_verify_token", "hub.verify_token does not match").reply()
        }
    }

    /// `POST /webhook/{app_id}`: verify, then apply every event of every entry.
    pub async fn receive(&self, app_id: &str, signature: Option<&str>, body: &[u8]) -> Reply {
        let Some(app) = self.config.app(app_id) else {
            return unknown_app(app_id);
        };
        if let Err(err) = verify_signature(app.app_secret.expose().as_bytes(), body, signature) {
            tracing::warn!(app_id, error = %err, "webhook refused");
            return ApiError::unauthorized("bad_signature", err.to_string()).reply();
        }
        match self.ingest(app_id, body).await {
            Ok(report) => Reply::json(200, &report),
            Err(err) => {
                tracing::error!(app_id, error = %err, "webhook not applied; Meta will retry");
                ApiError::internal(format!("events not stored: {err}")).reply()
            }
        }
    }

    /// Parse and apply a verified body. Unparseable bodies and bad events are quarantined.
    pub async fn ingest(&self, app_id: &str, body: &[u8]) -> Result<IngestReport, IngestError> {
        let now = self.clock.now_millis();
        let parsed = match parse_webhook(body) {
            Ok(parsed) => parsed,
            Err(err) => {
                tracing::warn!(app_id, error = %err, "unparseable webhook body quarantined");
                self.quarantine(app_id, body, err.to_string(), now).await?;
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

        let outcomes = self.apply_all(app_id, parsed.events).await?;
        let mut pending = std::collections::BTreeSet::new();
        for (event, outcome) in &outcomes {
            match outcome {
                Applied::Written => report.written += 1,
                Applied::WrittenActionPending => {
                    report.written += 1;
                    pending.insert((
                        event.page_id.clone(),
                        event.psid.clone().unwrap_or_default(),
                    ));
                }
                Applied::Duplicate => report.duplicates += 1,
                Applied::Unchanged => report.unchanged += 1,
                Applied::UnknownPage => {
                    report.unknown_pages += 1;
                    problems.push(format!("page {} is not configured", event.page_id));
                }
            }
        }
        // Triggers run inline, after every event is durable: see README ("Triggers").
        if let Some(actions) = &self.actions {
            let executed = stream::iter(pending)
                .map(|(page_id, psid)| async move {
                    match actions.execute_pending_action(&page_id, &psid).await {
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
            report.actions_executed = executed.into_iter().sum();
        }
        if !problems.is_empty() {
            problems.dedup();
            self.quarantine(app_id, body, problems.join("; "), now)
                .await?;
            report.quarantined = true;
        }
        tracing::info!(
            app_id,
            events = report.events,
            written = report.written,
            duplicates = report.duplicates,
            unchanged = report.unchanged,
            unknown_kinds = report.unknown_kinds,
            rejected = report.rejected,
            "webhook applied"
        );
        Ok(report)
    }

    async fn quarantine(
        &self,
        app_id: &str,
        body: &[u8],
        reason: String,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        self.store
            .quarantine(QuarantinedBody {
                app_id: app_id.to_string(),
                received_at: now,
                body: body.to_vec(),
                reason,
                expires_at: now / 1000 + QUARANTINE_RETENTION_SECS,
            })
            .await
    }

    /// Apply events: grouped by conversation, in timestamp order within one, groups
    /// concurrently (bounded). Returns only when every event is durable (or one failed).
    pub async fn apply_all(
        &self,
        app_id: &str,
        events: Vec<WebhookEvent>,
    ) -> Result<Vec<(WebhookEvent, Applied)>, IngestError> {
        let mut groups: BTreeMap<(String, String), Vec<(usize, WebhookEvent)>> = BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            let key = (
                event.page_id.clone(),
                event.psid.clone().unwrap_or_default(),
            );
            groups.entry(key).or_default().push((index, event));
        }
        let results: Vec<Vec<(usize, WebhookEvent, Applied)>> = stream::iter(groups.into_values())
            .map(|mut group| async move {
                group.sort_by_key(|(index, event)| (event.timestamp.unwrap_or(i64::MAX), *index));
                let mut done = Vec::with_capacity(group.len());
                for (index, event) in group {
                    let outcome = self.apply(app_id, &event).await?;
                    done.push((index, event, outcome));
                }
                Ok::<_, IngestError>(done)
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut flat: Vec<(usize, WebhookEvent, Applied)> = results.into_iter().flatten().collect();
        flat.sort_by_key(|(index, _, _)| *index);
        Ok(flat.into_iter().map(|(_, e, a)| (e, a)).collect())
    }

    /// Apply one event: read, decide, write conditionally; on a version conflict read
    /// again and decide again.
    pub async fn apply(&self, app_id: &str, event: &WebhookEvent) -> Result<Applied, IngestError> {
        if !event.kind.touches_conversation() || event.psid.is_none() {
            return Ok(Applied::Unchanged);
        }
        let Some(page) = self.config.page(&event.page_id) else {
            tracing::warn!(app_id, page_id = %event.page_id, "event for a page that is not configured");
            return Ok(Applied::UnknownPage);
        };
        let psid = event.psid.as_deref().unwrap_or_default();
        let key = event.dedupe_key(app_id);
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now_millis();
            let ctx = EventContext {
                page,
                receiving_app: app_id,
                now,
            };
            let current = self.store.conversation(&event.page_id, psid).await?;
            let transition = match apply_event(current.as_ref(), event, &key, &ctx) {
                Decision::Unchanged => return Ok(Applied::Unchanged),
                Decision::Write(t) => *t,
            };
            let write = ConversationWrite {
                dedupe_key: Some(key.clone()),
                dedupe_expires_at: now / 1000 + DEDUPE_RETENTION_SECS,
                ..transition.into_write(current.as_ref(), page.timeline_retention_secs(), now)
            };
            let action_pending = write
                .state
                .pending_action
                .as_ref()
                .is_some_and(|a| a.executing_since.is_none());
            match self.store.write(write).await {
                Ok(WriteOutcome::Written) if action_pending => {
                    return Ok(Applied::WrittenActionPending)
                }
                Ok(WriteOutcome::Written) => {
                    tracing::debug!(
                        app_id,
                        kind = event.kind.name(),
                        channel = event.channel.as_str(),
                        "event applied"
                    );
                    return Ok(Applied::Written);
                }
                Ok(WriteOutcome::Duplicate) => {
                    tracing::info!(
                        app_id,
                        kind = event.kind.name(),
                        "duplicate delivery ignored"
                    );
                    return Ok(Applied::Duplicate);
                }
                Err(StoreError::VersionConflict) => {
                    tracing::debug!(app_id, attempt, "version conflict; reading again");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(IngestError::Contention)
    }
}

fn unknown_app(app_id: &str) -> Reply {
    ApiError::not_found("unknown_app", format!("app {app_id:?} is not configured")).reply()
}

/// Exponential backoff with jitter: a few milliseconds, growing, never synchronised.
fn backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    ) % (base + 1);
    Duration::from_millis(base + jitter)
}
