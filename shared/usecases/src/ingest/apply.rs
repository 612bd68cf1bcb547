//! Applying a delivery's events: grouped by conversation, in timestamp order within one,
//! groups concurrently (bounded); each event exactly once, through the record kernel with
//! its applied-event key in the same write. A conversation with several events in the
//! delivery is applied as a batch (`batch.rs`): one read of the record and of the events'
//! applied-event keys, then the events folded in order into one write per chunk.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};

use super::{WebhookIngest, APPLIED_KEY_RETENTION_SECS};
use crate::records::{write_of, Committed, RecordError};
use crate::triggers::Triggers;
use routing_domain::transition::{apply_event, Decision, EventContext};
use routing_domain::{EpochMillis, WebhookEvent};

/// An event applied, with its place in the delivery.
pub(super) type Done = (usize, WebhookEvent, EventOutcome);

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Written,
    Duplicate,
    /// Nothing to write (reads, deliveries, unknown kinds, dashboard test samples).
    Unchanged,
    /// The event's Page is not configured.
    UnknownPage,
}

/// A conversation's events with their places in the delivery.
pub(super) type Group = Vec<(usize, WebhookEvent)>;

/// One event's outcome, and whether its conversation may now hold a trigger's action that
/// an executor can run (recorded now or earlier: a redelivery, a later event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventOutcome {
    pub applied: Applied,
    pub action_runnable: bool,
}

/// The outcomes of the events stored, and the first failure (its conversation's events
/// from the failed one on were not stored; other conversations' were).
pub struct Delivery {
    pub outcomes: Vec<(WebhookEvent, EventOutcome)>,
    pub failure: Option<RecordError>,
}

impl WebhookIngest {
    /// Apply events: grouped by conversation, in timestamp order within one, groups
    /// concurrently (bounded). Returns when every conversation is done: each either fully
    /// stored or stopped at its first failure, which does not stop the others.
    pub async fn apply_all(&self, app_id: &str, events: Vec<WebhookEvent>) -> Delivery {
        let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            let key = (
                event.page_id.clone(),
                event.psid.clone().unwrap_or_default(),
            );
            groups.entry(key).or_default().push((index, event));
        }
        let results: Vec<(Vec<Done>, Option<RecordError>)> = stream::iter(groups.into_values())
            .map(|group| self.apply_group(app_id, group))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut failure = None;
        let mut flat = Vec::new();
        for (done, failed) in results {
            flat.extend(done);
            failure = failure.or(failed);
        }
        flat.sort_by_key(|(index, _, _)| *index);
        let outcomes = flat.into_iter().map(|(_, e, a)| (e, a)).collect();
        Delivery { outcomes, failure }
    }

    /// One conversation's events, oldest first (ties in delivery order), up to the first
    /// that could not be stored.
    async fn apply_group(
        &self,
        app_id: &str,
        mut group: Group,
    ) -> (Vec<Done>, Option<RecordError>) {
        group.sort_by_key(|(index, event)| (event.timestamp.unwrap_or(i64::MAX), *index));
        if self.batches && group.len() > 1 {
            return self.apply_batch(app_id, group).await;
        }
        let mut done = Vec::with_capacity(group.len());
        for (index, event) in group {
            match self.apply(app_id, &event).await {
                Ok(outcome) => done.push((index, event, outcome)),
                Err(err) => return (done, Some(err)),
            }
        }
        (done, None)
    }

    /// Apply one event: read, decide, write conditionally with its applied-event key; on a
    /// version conflict read again and decide again.
    pub async fn apply(
        &self,
        app_id: &str,
        event: &WebhookEvent,
    ) -> Result<EventOutcome, RecordError> {
        let outcome = |applied, action_runnable| EventOutcome {
            applied,
            action_runnable,
        };
        if !event.kind.touches_conversation() || event.psid.is_none() {
            return Ok(outcome(Applied::Unchanged, false));
        }
        let Some(page) = self.records.config().page(&event.page_id) else {
            tracing::warn!(app_id, page_id = %event.page_id, "event for a page that is not configured");
            return Ok(outcome(Applied::UnknownPage, false));
        };
        let psid = event.psid.as_deref().unwrap_or_default();
        let key = event.applied_key(app_id);
        let retention = page.timeline_retention_secs();
        let committed = self
            .records
            .commit(&event.page_id, psid, None, |current, now| {
                let ctx = EventContext {
                    page,
                    receiving_app: app_id,
                    now,
                };
                let Decision::Write(transition) = apply_event(current, event, &key, &ctx) else {
                    return None;
                };
                let write = write_of(*transition, current, retention, now);
                Some(crate::ports::ConversationWrite {
                    applied_key: Some(key.clone()),
                    applied_keys_expire_at: now / 1000 + APPLIED_KEY_RETENTION_SECS,
                    ..write
                })
            })
            .await?;
        Ok(outcome_of(committed, event, app_id, self.records.now()))
    }
}

/// What became of one event applied alone, from what its write did.
fn outcome_of(
    committed: Committed,
    event: &WebhookEvent,
    app_id: &str,
    now: EpochMillis,
) -> EventOutcome {
    let outcome = |applied, action_runnable| EventOutcome {
        applied,
        action_runnable,
    };
    match committed {
        Committed::Written(record) => {
            let (kind, feed) = (event.kind.name(), event.feed.as_str());
            tracing::debug!(app_id, kind, feed, "event applied");
            outcome(Applied::Written, Triggers::is_runnable(&record, now))
        }
        Committed::Duplicate => {
            tracing::info!(
                app_id,
                kind = event.kind.name(),
                "duplicate delivery ignored"
            );
            // Its first delivery may have stopped before the action ran: the executor's
            // claim reads the record and decides.
            outcome(Applied::Duplicate, true)
        }
        Committed::Unchanged(record) => {
            let runnable = record.is_some_and(|r| Triggers::is_runnable(&r, now));
            outcome(Applied::Unchanged, runnable)
        }
    }
}
