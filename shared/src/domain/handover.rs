//! What every write notes on the record besides its own decision (applied by the
//! load–decide–write kernel to each write): the newest change of control (what the events
//! say) and the unclaimed-hand-over timer, which the lease item carries as its wake-up.

use super::control_event::last_control_change;
use super::conversation::Conversation;
use super::time::EpochSeconds;
use super::timeline::TimelineEntry;

/// Note on `next` what the write of `timeline` over `before` (`None`: a new record) means
/// for the events and the unclaimed timer of a Page whose limit is `unclaimed_after_secs`
/// (`None`: off, or the Page is not configured).
///
/// The timer starts with a new hand-over to humans and stops when an agent answers (a
/// reply, a take, marking it read), when control leaves humans, or when it fires.
pub fn note_write(
    before: Option<&Conversation>,
    next: &mut Conversation,
    timeline: &[TimelineEntry],
    unclaimed_after_secs: Option<i64>,
) {
    if let Some(change) = last_control_change(timeline) {
        next.last_control_change = Some(change);
    }
    let handed_at = next.handed_to_humans_at;
    let answered = handed_at.is_some() && next.answered_at >= handed_at;
    if !next.owner.role.is_human() || handed_at.is_none() || answered {
        next.unclaimed_due_at = None;
        return;
    }
    let new_handover = before.and_then(|b| b.handed_to_humans_at) != handed_at;
    if new_handover {
        next.unclaimed_at = None;
        next.unclaimed_due_at = match (handed_at, unclaimed_after_secs) {
            (Some(at), Some(secs)) => Some(at.div_euclid(1000) + secs),
            _ => None,
        };
    }
}

impl Conversation {
    /// When the sweep must look at this conversation next (the lease item's `lease_due`,
    /// its index sort key): the timed reset, or an earlier unclaimed deadline. `None`
    /// exactly while there is no lease.
    pub fn lease_wake(&self) -> Option<EpochSeconds> {
        let due = self.control_expires_at?;
        Some(self.unclaimed_due_at.map_or(due, |u| u.min(due)))
    }

    /// The hand-over's unclaimed deadline has passed at `now_secs` and it has not fired.
    pub fn unclaimed_due(&self, now_secs: EpochSeconds) -> bool {
        self.owner.role.is_human() && self.unclaimed_due_at.is_some_and(|due| due <= now_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Owner, OwnerRole};

    fn handed_over(at: i64) -> Conversation {
        let mut c = Conversation::new("p", "u", 0);
        c.owner = Owner::app("2002", OwnerRole::Inbox);
        c.note_handover_to_humans(at);
        c.control_expires_at = Some(86_400);
        c
    }

    #[test]
    fn a_hand_over_starts_the_timer_and_an_answer_stops_it() {
        let before = Conversation::new("p", "u", 0);
        let mut next = handed_over(10_000);
        note_write(Some(&before), &mut next, &[], Some(900));
        assert_eq!(next.unclaimed_due_at, Some(910));
        assert_eq!(next.lease_wake(), Some(910));
        assert!(!next.unclaimed_due(909) && next.unclaimed_due(910));
        // A later write that is no new hand-over keeps the deadline.
        let mut later = next.clone();
        note_write(Some(&next), &mut later, &[], Some(900));
        assert_eq!(later.unclaimed_due_at, Some(910));
        // An agent's answer stops it; the lease wakes at the reset again.
        let mut answered = later.clone();
        answered.note_answered(20_000);
        note_write(Some(&later), &mut answered, &[], Some(900));
        assert_eq!(answered.unclaimed_due_at, None);
        assert_eq!(answered.lease_wake(), Some(86_400));
    }

    #[test]
    fn off_by_default_and_stopped_when_control_leaves_humans() {
        let before = Conversation::new("p", "u", 0);
        let mut next = handed_over(10_000);
        note_write(Some(&before), &mut next, &[], None);
        assert_eq!(next.unclaimed_due_at, None);
        let mut timed = handed_over(10_000);
        note_write(Some(&before), &mut timed, &[], Some(60));
        let mut returned = timed.clone();
        returned.owner = Owner::app("1001", OwnerRole::Bot);
        returned.control_expires_at = None;
        note_write(Some(&timed), &mut returned, &[], Some(60));
        assert_eq!(
            (returned.unclaimed_due_at, returned.lease_wake()),
            (None, None)
        );
    }

    #[test]
    fn a_new_hand_over_may_fire_again() {
        let mut fired = handed_over(10_000);
        fired.unclaimed_at = Some(70_000);
        let mut again = fired.clone();
        again.note_handover_to_humans(100_000);
        note_write(Some(&fired), &mut again, &[], Some(60));
        assert_eq!(
            (again.unclaimed_at, again.unclaimed_due_at),
            (None, Some(160))
        );
    }
}
