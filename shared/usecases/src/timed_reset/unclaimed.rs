//! Unclaimed hand-overs: a hand-over to humans that no agent answered within the Page's
//! `unclaimed_after_secs`. The lease item wakes the sweep at that deadline
//! (`Conversation::lease_wake`), so the sweep finds it through the index it already reads,
//! within a minute. Firing is one write conditional on the version that shows it due, so
//! it happens exactly once: it sets `unclaimed_at` (the table's stream turns that version
//! into the `conversation.unclaimed` event) and, for `return_to_bot`, records the pass back
//! to the bot as the conversation's pending action, executed like a trigger's (with the
//! Page's `to_bot` message). An agent's answer or a take before the deadline stopped the
//! timer (`domain::note_write`), so nothing fires.

use crate::config::{PagePolicy, UnclaimedAction};
use crate::records::change_key;
use crate::triggers::Triggers;
use routing_domain::transition::Transition;
use routing_domain::{ActionKind, EpochMillis, Happening, RequestedAction, TimelineEntry};

use super::{from_record, ResetError, TimedReset};

/// The `source` of the pending action an unclaimed hand-over records.
pub const UNCLAIMED_SOURCE: &str = "unclaimed";

impl TimedReset {
    /// Fire the conversation's unclaimed hand-over if it is due; whether it fired now.
    pub async fn fire_unclaimed(&self, page_id: &str, psid: &str) -> Result<bool, ResetError> {
        let config = self.records.config().clone();
        let Some(page) = config.page(page_id) else {
            return Ok(false);
        };
        let now = self.now();
        let mut fired = false;
        let mut returns = false;
        self.records
            .update(page_id, psid, |current| {
                fired = false;
                returns = false;
                if current.version == 0 || !current.unclaimed_due(now.div_euclid(1000)) {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.unclaimed_due_at = None;
                next.state.unclaimed_at = Some(now);
                next.state.updated_at = now;
                let acting = current
                    .owner
                    .app_id
                    .as_deref()
                    .filter(|app| config.app_with_token(app, page_id).is_some());
                if page.unclaimed_action == UnclaimedAction::ReturnToBot
                    && current.pending_action.is_none()
                {
                    if let Some(acting) = acting {
                        request_return_to_bot(&mut next, acting, page, now);
                        returns = true;
                    }
                }
                fired = true;
                Some(next)
            })
            .await
            .map_err(from_record)?;
        if fired {
            tracing::info!(page_id, returns, "hand-over unclaimed");
        }
        if returns {
            // A failure leaves the action pending: the re-sync batch executes it.
            let triggers = Triggers::new(self.records.clone(), self.graph.clone());
            if let Err(err) = triggers.execute(page_id, psid).await {
                tracing::warn!(page_id, error = %err, "return to the bot of an unclaimed hand-over left pending");
            }
        }
        Ok(fired)
    }
}

/// The unclaimed hand-over's return to the bot, recorded as a pending action with its
/// timeline entry (the trigger executor performs it, sending the Page's `to_bot` message).
fn request_return_to_bot(next: &mut Transition, acting: &str, page: &PagePolicy, now: EpochMillis) {
    let key = change_key(UNCLAIMED_SOURCE, now);
    let flagged = !next.state.needs_resync;
    next.state.needs_resync = true;
    next.state.pending_action = Some(RequestedAction {
        action: ActionKind::PassToBot,
        acting_app_id: acting.to_string(),
        target_app_id: Some(page.bot_app_id.clone()),
        source: UNCLAIMED_SOURCE.to_string(),
        at: now,
        event_key: key.clone(),
        executing_since: None,
        flagged,
    });
    next.timeline.push(TimelineEntry::new(
        now,
        &key,
        Happening::ActionRequested {
            action: ActionKind::PassToBot,
            source: UNCLAIMED_SOURCE.to_string(),
        },
    ));
}
