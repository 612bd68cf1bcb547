//! What every write notes on the record besides its own decision (applied by the
//! load–decide–write kernel to each write): the newest change of control (what the events
//! say) and the unclaimed-hand-over timer, which the lease item carries as its wake-up.

use super::business_event::last_control_change;
use super::conversation::Conversation;
use super::opening_hours::OpeningHours;
use super::time::{EpochMillis, EpochSeconds};
use super::timeline::TimelineEntry;

/// The `metadata` of the messages the coordinator sends on its own as the inbox app (the
/// out-of-hours notice): their echoes are no agent's answer.
pub const AUTOMATIC_MESSAGE_METADATA: &str = "messenger-routing:automatic";

/// What a hand-over to humans means on a Page (`PagePolicy::handover_policy`).
#[derive(Clone, Copy, Debug, Default)]
pub struct HandoverPolicy<'a> {
    /// The unclaimed limit, in open seconds (`None`: off).
    pub unclaimed_after_secs: Option<i64>,
    /// The Page's opening hours (`None`: always open).
    pub hours: Option<&'a OpeningHours>,
    /// The Page has an `out_of_hours` message to send.
    pub out_of_hours_message: bool,
}

impl HandoverPolicy<'_> {
    /// When a hand-over at `at` becomes unclaimed: `unclaimed_after_secs` of open time
    /// later (`None`: never, or the calendar does not open within a year).
    pub fn unclaimed_deadline(&self, at: EpochMillis) -> Option<EpochSeconds> {
        let secs = self.unclaimed_after_secs?;
        match self.hours {
            Some(hours) => hours.after_open_secs(at, secs),
            None => Some(at.div_euclid(1000) + secs),
        }
    }

    /// A hand-over at `at` happens outside opening hours.
    pub fn closed_at(&self, at: EpochMillis) -> bool {
        self.hours.is_some_and(|hours| !hours.is_open(at))
    }
}

/// Note on `next` what the write of `timeline` over `before` (`None`: a new record) means
/// for the events, the unclaimed timer and the out-of-hours message under the Page's
/// `policy` (the default policy for a Page no longer configured).
///
/// The timer and the message start with a new hand-over to humans (the message only
/// outside opening hours) and stop when an agent answers (a reply, a take, marking it
/// read), when control leaves humans, or when they are done.
pub fn note_write(
    before: Option<&Conversation>,
    next: &mut Conversation,
    timeline: &[TimelineEntry],
    policy: &HandoverPolicy<'_>,
) {
    if let Some(change) = last_control_change(timeline) {
        next.last_control_change = Some(change);
    }
    let handed_at = next.handed_to_humans_at;
    let answered = handed_at.is_some() && next.answered_at >= handed_at;
    let Some(at) = handed_at.filter(|_| next.owner.role.is_human() && !answered) else {
        next.unclaimed_due_at = None;
        next.out_of_hours_due = None;
        return;
    };
    let new_handover = before.and_then(|b| b.handed_to_humans_at) != handed_at;
    if new_handover {
        next.unclaimed_at = None;
        next.unclaimed_due_at = policy.unclaimed_deadline(at);
        next.out_of_hours_due =
            (policy.out_of_hours_message && policy.closed_at(at)).then(|| at.div_euclid(1000));
    }
}

impl Conversation {
    /// When the sweep must look at this conversation next (the lease item's `lease_due`,
    /// its index sort key): the timed reset, or an earlier unclaimed deadline or
    /// out-of-hours message. `None` exactly while there is no lease.
    pub fn lease_wake(&self) -> Option<EpochSeconds> {
        let due = self.control_expires_at?;
        [self.unclaimed_due_at, self.out_of_hours_due]
            .into_iter()
            .flatten()
            .fold(due, i64::min)
            .into()
    }

    /// The hand-over's unclaimed deadline has passed at `now_secs` and it has not fired.
    pub fn unclaimed_due(&self, now_secs: EpochSeconds) -> bool {
        self.owner.role.is_human() && self.unclaimed_due_at.is_some_and(|due| due <= now_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Owner, OwnerRole};

    fn after(secs: i64) -> HandoverPolicy<'static> {
        HandoverPolicy {
            unclaimed_after_secs: Some(secs),
            ..HandoverPolicy::default()
        }
    }

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
        note_write(Some(&before), &mut next, &[], &after(900));
        assert_eq!(next.unclaimed_due_at, Some(910));
        assert_eq!(next.lease_wake(), Some(910));
        assert!(!next.unclaimed_due(909) && next.unclaimed_due(910));
        // A later write that is no new hand-over keeps the deadline.
        let mut later = next.clone();
        note_write(Some(&next), &mut later, &[], &after(900));
        assert_eq!(later.unclaimed_due_at, Some(910));
        // An agent's answer stops it; the lease wakes at the reset again.
        let mut answered = later.clone();
        answered.note_answered(20_000);
        note_write(Some(&later), &mut answered, &[], &after(900));
        assert_eq!(answered.unclaimed_due_at, None);
        assert_eq!(answered.lease_wake(), Some(86_400));
    }

    #[test]
    fn off_by_default_and_stopped_when_control_leaves_humans() {
        let before = Conversation::new("p", "u", 0);
        let mut next = handed_over(10_000);
        note_write(Some(&before), &mut next, &[], &HandoverPolicy::default());
        assert_eq!(next.unclaimed_due_at, None);
        let mut timed = handed_over(10_000);
        note_write(Some(&before), &mut timed, &[], &after(60));
        let mut returned = timed.clone();
        returned.owner = Owner::app("1001", OwnerRole::Bot);
        returned.control_expires_at = None;
        note_write(Some(&timed), &mut returned, &[], &after(60));
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
        note_write(Some(&fired), &mut again, &[], &after(60));
        assert_eq!(
            (again.unclaimed_at, again.unclaimed_due_at),
            (None, Some(160))
        );
    }

    #[test]
    fn out_of_hours_a_hand_over_gets_its_message_once_and_the_timer_waits_for_opening() {
        use std::collections::BTreeSet;
        // Open 09:00-17:00 UTC every day.
        let hours = OpeningHours::new(
            crate::Zone::utc(),
            std::array::from_fn(|_| vec![(9 * 60, 17 * 60)]),
            BTreeSet::new(),
        );
        let policy = HandoverPolicy {
            unclaimed_after_secs: Some(600),
            hours: Some(&hours),
            out_of_hours_message: true,
        };
        let before = Conversation::new("p", "u", 0);
        // Handed over at 20:00 on day 0.
        let mut night = handed_over(20 * 3_600_000);
        note_write(Some(&before), &mut night, &[], &policy);
        assert_eq!(
            night.out_of_hours_due,
            Some(20 * 3600),
            "the message is due now"
        );
        assert_eq!(
            night.unclaimed_due_at,
            Some(86_400 + 9 * 3600 + 600),
            "10 open minutes"
        );
        assert_eq!(night.lease_wake(), Some(20 * 3600));
        // Within hours: no message.
        let mut day = handed_over(10 * 3_600_000);
        note_write(Some(&before), &mut day, &[], &policy);
        assert_eq!(day.out_of_hours_due, None);
        assert_eq!(day.unclaimed_due_at, Some(10 * 3600 + 600));
        // An answer takes both back.
        let mut answered = night.clone();
        answered.note_answered(21 * 3_600_000);
        note_write(Some(&night), &mut answered, &[], &policy);
        assert_eq!(
            (answered.out_of_hours_due, answered.unclaimed_due_at),
            (None, None)
        );
    }
}
