//! Claiming a pending action with a conditional write, so that two executors never both
//! act; a claim older than the timeout is taken over, marked stale.

use super::{TriggerError, Triggers, ACTION_CLAIM_TIMEOUT_MS};
use routing_domain::transition::Transition;
use routing_domain::{Conversation, EpochMillis, RequestedAction};

/// An action this executor now holds.
pub(super) struct Claim {
    /// The record as the claim wrote it.
    pub record: Conversation,
    /// The action as claimed (its `executing_since` is this claim's).
    pub action: RequestedAction,
    /// Another executor had claimed it and died mid-way: Meta may have done it already.
    pub stale: bool,
}

impl Triggers {
    /// Claim the pending action; `None` when there is none or another executor is at work.
    pub(super) async fn claim(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Claim>, TriggerError> {
        let now = self.records.now();
        let mut claimed = None;
        let record = self
            .records
            .update(page_id, psid, |current| {
                claimed = None;
                let action = current.pending_action.as_ref()?;
                if is_live(action, now) {
                    return None;
                }
                let stale = action.executing_since.is_some();
                let mut action = action.clone();
                action.executing_since = Some(now);
                let mut next = Transition::successor(current);
                next.state.pending_action = Some(action.clone());
                claimed = Some((action, stale));
                Some(next)
            })
            .await?;
        Ok(claimed.map(|(action, stale)| {
            if stale {
                tracing::warn!(
                    page_id,
                    "a trigger's executor died mid-way; checking with Meta"
                );
            }
            Claim {
                record,
                action,
                stale,
            }
        }))
    }
}

/// Another executor claimed it and may still be at work.
pub(super) fn is_live(action: &RequestedAction, now: EpochMillis) -> bool {
    action
        .executing_since
        .is_some_and(|since| now - since < ACTION_CLAIM_TIMEOUT_MS)
}

/// The record's pending action is the one this claim holds (the same event asked for it).
pub(super) fn is_this_action(record: &Conversation, action: &RequestedAction) -> bool {
    record.pending_action.as_ref().map(|a| &a.event_key) == Some(&action.event_key)
}
