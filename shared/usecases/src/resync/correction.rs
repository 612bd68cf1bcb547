//! What a re-sync writes: the record corrected to Meta's answer (owner, lease, unread), or
//! only its lease and flag when it was right.

use super::{Resync, RESYNC_EVENT};
use crate::config::PagePolicy;
use routing_domain::transition::{apply_control_change, ControlChange, Transition};
use routing_domain::{Cause, Conversation, EpochMillis, EpochSeconds, Owner, OwnerRole};

/// What a re-sync's write decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A newer control event landed since the record was read: ask again.
    Stale,
    Changed,
    Unchanged,
}

/// Meta's answer, as of `at`, and the change key a correction is written under.
pub(super) struct MetaAnswer<'a> {
    pub owner: &'a Owner,
    pub expires: Option<EpochSeconds>,
    pub asked_as: &'a str,
    pub at: EpochMillis,
    pub key: &'a str,
}

impl MetaAnswer<'_> {
    /// The conversation stays flagged when Meta did not name the owner to any of our apps.
    fn keeps_flag(&self) -> bool {
        self.owner.app_id.is_none() && self.owner.role == OwnerRole::Other
    }
}

pub(super) fn describe(owner: &Owner) -> String {
    match &owner.app_id {
        Some(id) => format!("{id} ({})", owner.role.as_str()),
        None => owner.role.as_str().to_string(),
    }
}

impl Resync {
    /// The record corrected to Meta's answer; `None` when it already says so. The flag is
    /// cleared, unless a trigger's action is still pending or Meta named the owner to none
    /// of our apps.
    pub(super) fn correct(
        &self,
        current: &Conversation,
        page: &PagePolicy,
        answer: &MetaAnswer<'_>,
    ) -> (Option<Transition>, Verdict) {
        let ours = answer
            .owner
            .app_id
            .as_deref()
            .is_some_and(|id| self.records.config().app_with_token(id, &page.id).is_some());
        if current.owner != *answer.owner {
            let next = corrected(current, page, answer, ours);
            return (Some(next), Verdict::Changed);
        }
        let expires = lease(
            current.owner.role,
            current.control_expires_at,
            answer.expires,
            ours,
            answer.at,
            page,
        );
        // A pending trigger action keeps the flag until it is done.
        let flag = answer.keeps_flag() || current.pending_action.is_some();
        if expires == current.control_expires_at && current.needs_resync == flag {
            return (None, Verdict::Unchanged);
        }
        let mut next = Transition::successor(current);
        next.state.control_expires_at = expires;
        next.state.needs_resync = flag;
        next.state.updated_at = answer.at;
        (Some(next), Verdict::Unchanged)
    }
}

/// The record names another owner than Meta: Meta's owner, with its lease; a handover to
/// our agents that we missed must show in their queue.
fn corrected(
    current: &Conversation,
    page: &PagePolicy,
    answer: &MetaAnswer<'_>,
    ours: bool,
) -> Transition {
    let metadata = format!(
        "{} -> {} (asked as {})",
        describe(&current.owner),
        describe(answer.owner),
        answer.asked_as
    );
    let change = ControlChange {
        to: answer.owner.clone(),
        cause: Cause::Resync,
        actor: None,
        event: RESYNC_EVENT,
        metadata: Some(&metadata),
        at: answer.at,
        key: answer.key.to_string(),
    };
    let mut next = apply_control_change(current, &change, page);
    let state = &mut next.state;
    let role = answer.owner.role;
    state.control_expires_at = lease(
        role,
        state.control_expires_at,
        answer.expires,
        ours,
        answer.at,
        page,
    );
    if role.is_human() && !current.owner.role.is_human() {
        // A hand-over to humans we missed.
        state.note_handover_to_humans(answer.at);
    }
    state.needs_resync = answer.keeps_flag() || state.pending_action.is_some();
    next
}

/// The lease after a re-sync: none unless the role holds one; for an owner we act as, the
/// Page's own window (`base`) but never later than Meta's expiration (Meta idles the thread
/// then); for Meta's inbox or another app, Meta's expiration (when Meta idles it); when
/// Meta names no expiration, the Page's window.
fn lease(
    role: OwnerRole,
    base: Option<EpochSeconds>,
    meta: Option<EpochSeconds>,
    ours: bool,
    at: EpochMillis,
    page: &PagePolicy,
) -> Option<EpochSeconds> {
    if !role.holds_lease() {
        return None;
    }
    let window = || at.div_euclid(1000) + page.reset_after();
    Some(match (meta, ours) {
        (Some(meta), true) => base.map_or(meta, |b| b.min(meta)),
        (Some(meta), false) => meta,
        (None, _) => base.unwrap_or_else(window),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> PagePolicy {
        crate::testing::config().pages[0].clone()
    }

    #[test]
    fn leases_follow_meta_and_the_page_window() {
        let p = page();
        let at = 1_000_000_000_000;
        let window = at / 1000 + p.reset_after();
        // No lease with the bot or idle.
        assert_eq!(lease(OwnerRole::Bot, Some(5), Some(9), true, at, &p), None);
        assert_eq!(lease(OwnerRole::Idle, None, Some(9), false, at, &p), None);
        // Meta's inbox or another app: Meta's expiration.
        assert_eq!(
            lease(
                OwnerRole::PageInbox,
                Some(window),
                Some(window + 500),
                false,
                at,
                &p
            ),
            Some(window + 500)
        );
        // Our inbox: the Page's window, never after Meta's expiration.
        assert_eq!(
            lease(
                OwnerRole::Inbox,
                Some(window),
                Some(window + 500),
                true,
                at,
                &p
            ),
            Some(window)
        );
        assert_eq!(
            lease(
                OwnerRole::Inbox,
                Some(window),
                Some(window - 500),
                true,
                at,
                &p
            ),
            Some(window - 500)
        );
        assert_eq!(
            lease(OwnerRole::Inbox, None, Some(window + 500), true, at, &p),
            Some(window + 500)
        );
        // Meta names no expiration: the Page's window.
        assert_eq!(
            lease(OwnerRole::Other, None, None, false, at, &p),
            Some(window)
        );
    }
}
