//! Applying a delivery's events: grouped by conversation, in timestamp order within one,
//! groups concurrently (bounded); each event exactly once, through the record kernel with
//! its applied-event key in the same write.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{WebhookIngest, DEDUPE_RETENTION_SECS};
use crate::domain::transition::{apply_event, Decision, EventContext};
use crate::domain::WebhookEvent;
use crate::services::records::{write_of, Committed, RecordError};

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

/// A conversation's events with their places in the delivery.
type Group = Vec<(usize, WebhookEvent)>;

impl WebhookIngest {
    /// Apply events: grouped by conversation, in timestamp order within one, groups
    /// concurrently (bounded). Returns only when every event is durable (or one failed).
    pub async fn apply_all(
        &self,
        app_id: &str,
        events: Vec<WebhookEvent>,
    ) -> Result<Vec<(WebhookEvent, Applied)>, RecordError> {
        let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            let key = (
                event.page_id.clone(),
                event.psid.clone().unwrap_or_default(),
            );
            groups.entry(key).or_default().push((index, event));
        }
        let results: Vec<Vec<(usize, WebhookEvent, Applied)>> = stream::iter(groups.into_values())
            .map(|group| self.apply_group(app_id, group))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut flat: Vec<(usize, WebhookEvent, Applied)> = results.into_iter().flatten().collect();
        flat.sort_by_key(|(index, _, _)| *index);
        Ok(flat.into_iter().map(|(_, e, a)| (e, a)).collect())
    }

    /// One conversation's events, oldest first (ties in delivery order).
    async fn apply_group(
        &self,
        app_id: &str,
        mut group: Group,
    ) -> Result<Vec<(usize, WebhookEvent, Applied)>, RecordError> {
        group.sort_by_key(|(index, event)| (event.timestamp.unwrap_or(i64::MAX), *index));
        let mut done = Vec::with_capacity(group.len());
        for (index, event) in group {
            let outcome = self.apply(app_id, &event).await?;
            done.push((index, event, outcome));
        }
        Ok(done)
    }

    /// Apply one event: read, decide, write conditionally with its applied-event key; on a
    /// version conflict read again and decide again.
    pub async fn apply(&self, app_id: &str, event: &WebhookEvent) -> Result<Applied, RecordError> {
        if !event.kind.touches_conversation() || event.psid.is_none() {
            return Ok(Applied::Unchanged);
        }
        let Some(page) = self.records.config().page(&event.page_id) else {
            tracing::warn!(app_id, page_id = %event.page_id, "event for a page that is not configured");
            return Ok(Applied::UnknownPage);
        };
        let psid = event.psid.as_deref().unwrap_or_default();
        let key = event.dedupe_key(app_id);
        let retention = page.timeline_retention_secs();
        let mut action_pending = false;
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
                action_pending = write
                    .state
                    .pending_action
                    .as_ref()
                    .is_some_and(|a| a.executing_since.is_none());
                Some(crate::ports::ConversationWrite {
                    dedupe_key: Some(key.clone()),
                    dedupe_expires_at: now / 1000 + DEDUPE_RETENTION_SECS,
                    ..write
                })
            })
            .await?;
        Ok(match committed {
            Committed::Written(_) if action_pending => Applied::WrittenActionPending,
            Committed::Written(_) => {
                let (kind, channel) = (event.kind.name(), event.channel.as_str());
                tracing::debug!(app_id, kind, channel, "event applied");
                Applied::Written
            }
            Committed::Duplicate => {
                tracing::info!(
                    app_id,
                    kind = event.kind.name(),
                    "duplicate delivery ignored"
                );
                Applied::Duplicate
            }
            Committed::Unchanged(_) => Applied::Unchanged,
        })
    }
}
