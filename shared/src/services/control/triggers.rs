//! The actions webhook triggers record (a handover or return payload, a keyword, a request
//! the Page grants automatically), executed exactly once: claimed with a conditional write,
//! performed through the Graph API, then recorded.

use super::{ControlError, ControlService, ACTION_CLAIM_TIMEOUT_MS};
use crate::config::{PageConfig, Secret};
use crate::domain::transition::{apply_control_change, ControlChange, Transition};
use crate::domain::{ActionKind, Cause, Conversation, EpochMillis, Owner, RequestedAction};
use crate::ports::{GraphError, MessagingType, OutgoingMessage, ThreadControl};
use crate::services::records::change_key;

impl ControlService {
    /// Execute the action a webhook trigger recorded, exactly once: claim it with a
    /// conditional write, act through the Graph API, then record the result. `None` when
    /// there was nothing to do (no action, or another executor holds it).
    pub async fn execute_pending_action(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, ControlError> {
        let page = self.page(page_id)?;
        let Some((record, action)) = self.claim_action(page_id, psid).await? else {
            return Ok(None);
        };
        let (app_id, token) = match self.acting_app(page, &action.acting_app_id) {
            Ok((app, token)) => (app.id.clone(), token),
            Err(err) => {
                self.finish_action(&record, &action, true).await?;
                return Err(err);
            }
        };
        let target = action
            .target_app_id
            .clone()
            .unwrap_or_else(|| page.inbox_app_id.clone());
        let result = if record.owner.is(&target) {
            Ok(())
        } else {
            self.perform(page, psid, token, &action, &target).await
        };
        match result {
            Ok(()) => {
                let record = self
                    .record_action(page, record, &action, &app_id, &target)
                    .await?;
                tracing::info!(page_id, action = ?action.action, "trigger executed");
                Ok(Some(record))
            }
            Err(error) if error.is_transient() => {
                // Leave it pending for the next attempt.
                self.finish_action(&record, &action, false).await?;
                let owner = record.owner.clone();
                Err(ControlError::Graph { error, owner })
            }
            Err(error) => {
                self.finish_action(&record, &action, true).await?;
                Err(self.failure(page_id, psid, &record.owner, error).await)
            }
        }
    }

    /// Claim the pending action; a claim older than the timeout belongs to an executor
    /// that died mid-way: it is not acted on twice, Meta is asked instead (re-sync).
    async fn claim_action(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<(Conversation, RequestedAction)>, ControlError> {
        let now = self.records.now();
        let mut claimed = None;
        let record = self
            .records
            .update(page_id, psid, |current| {
                claimed = None;
                let action = current.pending_action.as_ref()?;
                if claim_is_live(action, now) {
                    return None;
                }
                let mut next = Transition::successor(current);
                let mut action = action.clone();
                if action.executing_since.is_some() {
                    next.state.pending_action = None;
                    next.state.needs_resync = true;
                } else {
                    action.executing_since = Some(now);
                    next.state.pending_action = Some(action.clone());
                    claimed = Some(action);
                }
                Some(next)
            })
            .await?;
        Ok(claimed.map(|action| (record, action)))
    }

    /// The action at Meta: a pass, with the Page's confirmation message in the same Send
    /// API call when there is one (atomic).
    async fn perform(
        &self,
        page: &PageConfig,
        psid: &str,
        token: &Secret,
        action: &RequestedAction,
        target: &str,
    ) -> Result<(), GraphError> {
        let confirmation = match action.action {
            ActionKind::PassToInbox => page.messages.to_human.clone(),
            ActionKind::PassToBot => page.messages.to_bot.clone(),
            ActionKind::GrantRequest => None,
        };
        let Some(text) = confirmation else {
            return self
                .graph
                .pass_thread_control(token, &page.id, psid, target, Some(&action.source))
                .await;
        };
        let message = OutgoingMessage {
            text,
            messaging_type: MessagingType::Response,
            metadata: Some(action.source.clone()),
            thread_control: Some(ThreadControl::Pass {
                app_id: target.to_string(),
            }),
        };
        self.graph
            .send_message(token, &page.id, psid, &message)
            .await
            .map(drop)
    }

    /// Record the pass the action made and clear the action (unless a newer one replaced
    /// it meanwhile).
    async fn record_action(
        &self,
        page: &PageConfig,
        claimed: Conversation,
        action: &RequestedAction,
        app_id: &str,
        target: &str,
    ) -> Result<Conversation, ControlError> {
        let at = self.records.now();
        let key = change_key("trigger", at);
        let to = Owner::app(target, page.role_of(target));
        let (page_id, psid) = (claimed.page_id.clone(), claimed.psid.clone());
        let record = self
            .records
            .update_from(&page_id, &psid, Some(claimed), |current| {
                let mut transition = if current.owner == to {
                    Transition::successor(current)
                } else {
                    let change = ControlChange {
                        to: to.clone(),
                        cause: Cause::Trigger,
                        actor: Some(app_id),
                        event: "pass_thread_control",
                        metadata: Some(&action.source),
                        at,
                        key: key.clone(),
                    };
                    apply_control_change(current, &change, page)
                };
                if is_this_action(&transition.state, action) {
                    transition.state.pending_action = None;
                }
                Some(transition)
            })
            .await?;
        Ok(record)
    }

    /// Release a claimed action: drop it (`give_up`, flagged for re-sync) or un-claim it.
    /// `claimed` is the record as the claim wrote it.
    async fn finish_action(
        &self,
        claimed: &Conversation,
        action: &RequestedAction,
        give_up: bool,
    ) -> Result<(), ControlError> {
        let (page_id, psid) = (&claimed.page_id, &claimed.psid);
        self.records
            .update_from(page_id, psid, Some(claimed.clone()), |current| {
                if !is_this_action(current, action) {
                    return None;
                }
                let mut next = Transition::successor(current);
                if give_up {
                    next.state.pending_action = None;
                    next.state.needs_resync = true;
                } else if let Some(pending) = next.state.pending_action.as_mut() {
                    pending.executing_since = None;
                }
                Some(next)
            })
            .await?;
        Ok(())
    }
}

/// Another executor claimed it and may still be at work.
fn claim_is_live(action: &RequestedAction, now: EpochMillis) -> bool {
    action
        .executing_since
        .is_some_and(|since| now - since < ACTION_CLAIM_TIMEOUT_MS)
}

/// The record's pending action is the one this event asked for.
fn is_this_action(record: &Conversation, action: &RequestedAction) -> bool {
    record.pending_action.as_ref().map(|a| &a.event_key) == Some(&action.event_key)
}
