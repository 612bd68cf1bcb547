//! What an executed action writes: the pass it made (done), the claim dropped (pending again
//! after a transient error), or a timeline entry saying why it failed.

use super::claim::{is_this_action, Claim};
use super::{TriggerError, Triggers};
use crate::config::PagePolicy;
use crate::records::change_key;
use routing_domain::transition::{
    apply_control_change, confirm_recorded_change, ControlChange, Transition,
};
use routing_domain::{Cause, Conversation, Happening, Owner, TimelineEntry};

impl Triggers {
    /// Record the pass the action made and clear the action (unless a newer one replaced
    /// it meanwhile); Meta confirmed the owner, so the flag the action set is taken back.
    pub(super) async fn record_done(
        &self,
        page: &PagePolicy,
        claim: Claim,
        app_id: &str,
        target: &str,
    ) -> Result<Conversation, TriggerError> {
        let at = self.records.now();
        let key = change_key("trigger", at);
        let to = Owner::app(target, page.role_of(target));
        let (page_id, psid) = (claim.record.page_id.clone(), claim.record.psid.clone());
        let action = claim.action;
        let record = self
            .records
            .update_from(&page_id, &psid, Some(claim.record), |current| {
                let change = ControlChange {
                    to: to.clone(),
                    cause: Cause::Trigger,
                    actor: Some(app_id),
                    event: "pass_thread_control",
                    metadata: Some(&action.source),
                    at,
                    key: key.clone(),
                };
                let mut transition = if current.owner == to {
                    // Already recorded; the pass still outranks every older event.
                    confirm_recorded_change(current, &change)
                        .unwrap_or_else(|| Transition::successor(current))
                } else {
                    apply_control_change(current, &change, page)
                };
                if is_this_action(&transition.state, &action) {
                    transition.state.pending_action = None;
                    if action.flagged {
                        transition.state.needs_resync = false;
                    }
                }
                Some(transition)
            })
            .await?;
        Ok(record)
    }

    /// Drop the claim: the action is pending again for the next attempt (a later event, a
    /// redelivery, or the re-sync batch, which finds it by its flag).
    pub(super) async fn unclaim(&self, claim: &Claim) -> Result<(), TriggerError> {
        let (page_id, psid) = (&claim.record.page_id, &claim.record.psid);
        self.records
            .update_from(page_id, psid, Some(claim.record.clone()), |current| {
                if !is_this_action(current, &claim.action) {
                    return None;
                }
                let mut next = Transition::successor(current);
                if let Some(pending) = next.state.pending_action.as_mut() {
                    pending.executing_since = None;
                }
                Some(next)
            })
            .await?;
        Ok(())
    }

    /// The action cannot be done: drop it with a timeline entry saying why, and leave the
    /// conversation flagged so that the re-sync names Meta's owner.
    pub(super) async fn record_failure(
        &self,
        page: &PagePolicy,
        claim: &Claim,
        reason: &str,
    ) -> Result<(), TriggerError> {
        tracing::warn!(page_id = %page.id, reason, "trigger recorded as failed");
        let at = self.records.now();
        let key = change_key("trigger-failed", at);
        let (page_id, psid) = (&claim.record.page_id, &claim.record.psid);
        let action = &claim.action;
        self.records
            .update_from(page_id, psid, Some(claim.record.clone()), |current| {
                if !is_this_action(current, action) {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.pending_action = None;
                next.state.needs_resync = true;
                next.timeline.push(TimelineEntry::new(
                    at,
                    &key,
                    Happening::ActionFailed {
                        action: action.action,
                        source: action.source.clone(),
                        reason: reason.to_string(),
                    },
                ));
                Some(next)
            })
            .await?;
        Ok(())
    }
}
