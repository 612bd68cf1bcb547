//! A change of control that Meta confirmed to the control API (or that a timeout or a
//! re-sync decided), applied to the record.

use crate::policy::PagePolicy;
use crate::{Cause, Conversation, EpochMillis, Happening, Owner, TimelineEntry};

use super::Transition;

/// Meta's release: the one change of control no webhook announces.
const RELEASE_EVENT: &str = "release_thread_control";

/// A change of control that Meta confirmed to the control API (or that a timeout or a
/// re-sync decided): applied to the record with its cause and actor.
#[derive(Clone, Debug)]
pub struct ControlChange<'a> {
    /// The new owner (`Owner::idle()` after a release).
    pub to: Owner,
    pub cause: Cause,
    /// The app that acted.
    pub actor: Option<&'a str>,
    /// `pass_thread_control`, `take_thread_control`, `release_thread_control`, ...
    pub event: &'a str,
    pub metadata: Option<&'a str>,
    /// When it happened (moved up to the last control event applied, if that is later).
    pub at: EpochMillis,
    /// Unique key of this change (timeline key and ordering tie-break).
    pub key: String,
}

/// Apply a confirmed change: the owner, unread (a pass to humans is a hand-over, a take by
/// a human an answer; a release or a return to the bot makes it read), the lease (a new
/// owner starts a fresh window) and the ordering guard.
pub fn apply_control_change(
    current: &Conversation,
    change: &ControlChange<'_>,
    page: &PagePolicy,
) -> Transition {
    let Transition {
        expected_version,
        state: mut next,
        ..
    } = Transition::successor(current);
    // Never before a control event already applied: a change Meta confirmed orders after
    // every webhook about the thread, even when this clock lags Meta's.
    let at = change.at.max(current.last_control_event_at.unwrap_or(0));
    let before = next.owner.clone();
    next.owner = change.to.clone();
    next.last_control_event_at = Some(at);
    // Meta stamped every webhook about this change (and the echo of a message sent with
    // it) before it confirmed, so a confirmed change orders after every event of its
    // millisecond: `~` sorts after the event keys, which start with a lowercase kind.
    next.last_control_event_key = Some(format!("~{}", change.key));
    next.last_activity_at = next.last_activity_at.max(at);
    next.updated_at = at;
    match change.event {
        "pass_thread_control" if change.to.role.is_human() => next.note_handover_to_humans(at),
        "take_thread_control" if change.to.role.is_human() => next.note_answered(at),
        _ => next.derive_unread(),
    }
    next.settle_request();
    if before != next.owner {
        next.start_lease(at, page.reset_after());
    } else {
        next.renew_lease(at, page.reset_after());
    }
    let timeline = vec![TimelineEntry::new(
        at,
        &change.key,
        Happening::Control {
            from: before,
            to: change.to.clone(),
            cause: change.cause,
            actor: change.actor.map(str::to_string),
            event: change.event.to_string(),
            metadata: change.metadata.map(str::to_string),
            late: false,
        },
    )];
    Transition {
        expected_version,
        state: next,
        timeline,
    }
}

/// Meta confirmed `change` and the record already names its owner: nothing to append, the
/// owner, unread and lease stay. A release, which Meta announces to no app, still moves the
/// ordering guard up to the confirmation: an event Meta stamped before it (a retried
/// delivery of an older message) no longer claims the thread from before it. A pass or a
/// take is announced by Meta's own webhook, which set the guard at Meta's time when it was
/// applied: the guard stays there, so a change Meta made between that time and this
/// confirmation (a take by Meta's Page Inbox) still claims the thread. `None` when the
/// guard does not move.
pub fn confirm_recorded_change(
    current: &Conversation,
    change: &ControlChange<'_>,
) -> Option<Transition> {
    if change.event != RELEASE_EVENT {
        return None;
    }
    let at = change.at.max(current.last_control_event_at.unwrap_or(0));
    let key = format!("~{}", change.key);
    let guard = (
        current.last_control_event_at.unwrap_or(0),
        current
            .last_control_event_key
            .as_deref()
            .unwrap_or_default(),
    );
    if current.last_control_event_at.is_some() && guard >= (at, key.as_str()) {
        return None;
    }
    let mut next = Transition::successor(current);
    next.state.last_control_event_at = Some(at);
    next.state.last_control_event_key = Some(key);
    next.state.updated_at = next.state.updated_at.max(at);
    Some(next)
}
