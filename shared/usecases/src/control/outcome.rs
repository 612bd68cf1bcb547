//! Meta's answer to a thread-control call made for the API, and what to do when there is
//! none: a call that may have reached Meta (a timeout after sending, a 5xx) is never
//! repeated; Meta's `thread_owner` decides whether it was applied.

use super::{ControlError, ControlService};
use crate::config::PagePolicy;
use crate::ports::{GraphError, ThreadOwner};
use routing_domain::Owner;

/// What Meta's owner says about a change whose call had no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settled {
    Applied,
    NotApplied,
    Unknown,
}

impl ControlService {
    /// Meta's answer to a call that moves control to `to`: `Ok` when Meta confirmed it,
    /// or, after an ambiguous failure, when `thread_owner` shows the change made.
    pub(super) async fn confirmed_change(
        &self,
        page: &PagePolicy,
        psid: &str,
        owner: &Owner,
        to: &Owner,
        answer: Result<(), GraphError>,
    ) -> Result<(), ControlError> {
        match answer {
            Err(GraphError::OutcomeUnknown(text)) => {
                self.settle_ambiguous(page, psid, owner, to, text).await
            }
            answer => self.confirmed(&page.id, psid, owner, answer).await,
        }
    }

    /// Ask Meta who holds the thread now: the change is applied when it names `to`; it was
    /// not when it names another owner (nothing changed: safe to try again); when Meta
    /// cannot say, the outcome stays unknown and the conversation is flagged for re-sync.
    async fn settle_ambiguous(
        &self,
        page: &PagePolicy,
        psid: &str,
        owner: &Owner,
        to: &Owner,
        text: String,
    ) -> Result<(), ControlError> {
        let page_id = page.id.as_str();
        let settled = match self.resync.meta_owner(page, psid, owner).await {
            Ok(answer) => settle(answer.as_ref(), to),
            Err(_) => Settled::Unknown,
        };
        tracing::warn!(page_id, settled = ?settled, "a thread-control call had no answer; Meta's owner decides");
        match settled {
            Settled::Applied => Ok(()),
            Settled::NotApplied => Err(ControlError::Graph {
                error: GraphError::Unavailable(format!("{text}; Meta shows it was not applied")),
                owner: owner.clone(),
            }),
            Settled::Unknown => Err(self
                .failure(page_id, psid, owner, GraphError::OutcomeUnknown(text))
                .await),
        }
    }
}

/// Whether Meta's owner shows the change to `to`.
fn settle(answer: Option<&ThreadOwner>, to: &Owner) -> Settled {
    match answer {
        None if to.app_id.is_none() => Settled::Applied,
        None => Settled::NotApplied,
        Some(ThreadOwner {
            app_id: Some(app_id),
            ..
        }) if to.is(app_id) => Settled::Applied,
        Some(ThreadOwner {
            app_id: Some(_), ..
        }) => Settled::NotApplied,
        // Owned, by an app Meta would not name to ours.
        Some(ThreadOwner { app_id: None, .. }) => Settled::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routing_domain::OwnerRole;

    #[test]
    fn meta_owner_settles_an_unanswered_change() {
        let inbox = Owner::app("2002", OwnerRole::Inbox);
        let named = |id: &str| ThreadOwner {
            app_id: Some(id.into()),
            expires_at: None,
        };
        let unnamed = ThreadOwner {
            app_id: None,
            expires_at: Some(5),
        };
        assert_eq!(settle(Some(&named("2002")), &inbox), Settled::Applied);
        assert_eq!(settle(Some(&named("1001")), &inbox), Settled::NotApplied);
        assert_eq!(settle(None, &inbox), Settled::NotApplied);
        assert_eq!(settle(None, &Owner::idle()), Settled::Applied);
        assert_eq!(
            settle(Some(&named("1001")), &Owner::idle()),
            Settled::NotApplied
        );
        assert_eq!(settle(Some(&unnamed), &inbox), Settled::Unknown);
    }
}
