//! The actions webhook triggers record (a handover or return payload, a keyword, a request
//! the Page grants automatically), executed exactly once: claimed with a conditional write,
//! performed through the Graph API, then recorded.
//!
//! Nothing drops an action silently. Ingest executes the pending action of every
//! conversation a delivery touched (a redelivery and any later event included), also when
//! another conversation of the delivery failed; recording an action flags the conversation
//! for re-sync, so the scheduled batch executes one that no delivery did. A claim older
//! than [`ACTION_CLAIM_TIMEOUT_MS`] belongs to an executor that died mid-way: Meta is asked
//! who holds the thread (`thread_owner`), and the action is recorded as done (its pass
//! reached Meta), performed (it did not), or recorded on the timeline as failed (control
//! is elsewhere).

mod claim;
mod outcome;

use std::sync::Arc;

use crate::config::{PagePolicy, Secret};
use crate::ports::{GraphApi, GraphError, MessagingType, OutgoingMessage, ThreadControl};
use crate::records::{RecordError, Records};
use claim::Claim;
use routing_domain::{ActionKind, Conversation, EpochMillis, RequestedAction};

/// A claimed action not finished after this long belongs to an executor that died.
pub const ACTION_CLAIM_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// Why an action was not executed now (it stays pending, or is recorded as failed).
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("page {0:?} is not configured")]
    UnknownPage(String),
    /// Meta failed; a transient error leaves the action pending for the next attempt.
    #[error("{0}")]
    Graph(GraphError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The trigger executor: built once per container (ingest and the re-sync use it).
#[derive(Clone)]
pub struct Triggers {
    records: Records,
    graph: Arc<dyn GraphApi>,
}

impl Triggers {
    pub fn new(records: Records, graph: Arc<dyn GraphApi>) -> Self {
        Triggers { records, graph }
    }

    /// Execute the conversation's pending action, exactly once: claim it, act through the
    /// Graph API, record the result. The record afterwards when the action was done;
    /// `None` when there was nothing to do (no action, another executor holds it, or it was
    /// recorded as failed).
    pub async fn execute(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, TriggerError> {
        let page = self
            .records
            .config()
            .page(page_id)
            .ok_or_else(|| TriggerError::UnknownPage(page_id.to_string()))?;
        let Some(claim) = self.claim(page_id, psid).await? else {
            return Ok(None);
        };
        let Some((app_id, token)) = self.acting_token(page, &claim.action) else {
            let reason = format!(
                "app {} has no token for the Page",
                claim.action.acting_app_id
            );
            self.record_failure(page, &claim, &reason).await?;
            return Ok(None);
        };
        let target = target_of(page, &claim.action);
        if claim.stale {
            return self.recover(page, claim, &app_id, token, &target).await;
        }
        let result = if claim.record.owner.is(&target) {
            Ok(())
        } else {
            self.perform(page, psid, token, &claim.action, &target)
                .await
        };
        self.settle(page, claim, &app_id, &target, result).await
    }

    /// A pending action that an executor may run now (none, or its claim is stale).
    pub fn is_runnable(record: &Conversation, now: EpochMillis) -> bool {
        record
            .pending_action
            .as_ref()
            .is_some_and(|action| !claim::is_live(action, now))
    }

    /// The acting app's id and its token for the Page.
    fn acting_token<'c>(
        &'c self,
        page: &PagePolicy,
        action: &RequestedAction,
    ) -> Option<(String, &'c Secret)> {
        let (app, token) = self
            .records
            .config()
            .app_with_token(&action.acting_app_id, &page.id)?;
        Some((app.id.clone(), token))
    }

    /// A stale claim: ask Meta who holds the thread, then record it done, perform it, or
    /// record it failed.
    async fn recover(
        &self,
        page: &PagePolicy,
        claim: Claim,
        app_id: &str,
        token: &Secret,
        target: &str,
    ) -> Result<Option<Conversation>, TriggerError> {
        let psid = claim.record.psid.clone();
        // The owner's id; "an app Meta does not name to us" when Meta only says it is held.
        let owner = match self.graph.thread_owner(token, &page.id, &psid).await {
            Ok(owner) => owner.map(|o| {
                o.app_id
                    .unwrap_or_else(|| "an app Meta does not name to us".into())
            }),
            Err(error) => return self.settle(page, claim, app_id, target, Err(error)).await,
        };
        tracing::info!(page_id = %page.id, "an interrupted trigger was checked with Meta");
        match owner.as_deref() {
            Some(owner) if owner == target => {
                self.settle(page, claim, app_id, target, Ok(())).await
            }
            Some(owner) if owner == app_id => {
                let result = self
                    .perform(page, &psid, token, &claim.action, target)
                    .await;
                self.settle(page, claim, app_id, target, result).await
            }
            other => {
                let holder = other.unwrap_or("nobody (idle)");
                let reason = format!("control is with {holder} at Meta, not with app {app_id}");
                self.record_failure(page, &claim, &reason).await?;
                Ok(None)
            }
        }
    }

    /// The action at Meta: a pass, with the Page's confirmation message in the same Send
    /// API call when there is one (atomic: the message is never sent without the pass).
    async fn perform(
        &self,
        page: &PagePolicy,
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

    /// Record what Meta answered: done, pending again (a transient error), or failed.
    async fn settle(
        &self,
        page: &PagePolicy,
        claim: Claim,
        app_id: &str,
        target: &str,
        result: Result<(), GraphError>,
    ) -> Result<Option<Conversation>, TriggerError> {
        match result {
            Ok(()) => {
                let record = self.record_done(page, claim, app_id, target).await?;
                tracing::info!(page_id = %page.id, "trigger executed");
                Ok(Some(record))
            }
            Err(error) if error.is_transient() => {
                self.unclaim(&claim).await?;
                Err(TriggerError::Graph(error))
            }
            Err(error) => {
                let reason = format!("Meta refused the action: {error}");
                self.record_failure(page, &claim, &reason).await?;
                Err(TriggerError::Graph(error))
            }
        }
    }
}

/// Where the action passes control.
fn target_of(page: &PagePolicy, action: &RequestedAction) -> String {
    action
        .target_app_id
        .clone()
        .unwrap_or_else(|| page.inbox_app_id.clone())
}
