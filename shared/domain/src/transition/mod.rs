//! The transition rules (docs/architecture.md, "Event rules"): a pure function over
//! (current record, webhook event, Page configuration) that yields the next record and the
//! timeline entries to append, or "nothing changed".
//!
//! Ownership evidence comes in two kinds:
//! - a *claim* that app X held the thread at time t (pass/take events, a customer message
//!   on `messaging`, an echo sent by X);
//! - *standby evidence* that app R did not hold it at time t (a delivery on `standby`, a
//!   take event that does not name the new owner).
//!
//! The owner is the newest claim, ordered by (timestamp, event key); it becomes "some
//! other app" (flagged for re-sync) when there is newer standby evidence against it. Both
//! rules are order-independent, so replaying any permutation or duplication of the same
//! events yields the same owner.

mod control_change;
mod keywords;
mod kinds;
mod rules;

pub use control_change::{apply_control_change, confirm_recorded_change, ControlChange};
pub use keywords::matching_keyword;

use crate::policy::PagePolicy;
use crate::{Conversation, EpochMillis, Feed, TimelineEntry, WebhookEvent};
use rules::Rules;

/// What the rules need besides the record and the event.
#[derive(Clone, Copy, Debug)]
pub struct EventContext<'a> {
    pub page: &'a PagePolicy,
    /// The app the webhook was delivered to (the `{app_id}` in the path).
    pub receiving_app: &'a str,
    /// Used when the event carries no timestamp, and as `updated_at`.
    pub now: EpochMillis,
}

/// The next record and what to append to the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The record before (version 0 when the conversation is new).
    pub expected_version: u64,
    pub state: Conversation,
    pub timeline: Vec<TimelineEntry>,
}

impl Transition {
    /// The next version of `current`, not changed yet, with nothing to append.
    pub fn successor(current: &Conversation) -> Self {
        let mut state = current.clone();
        state.version = current.version + 1;
        Transition {
            expected_version: current.version,
            state,
            timeline: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to write (reads, deliveries, Page-level and unknown events, test samples).
    Unchanged,
    Write(Box<Transition>),
}

/// Apply one event. `event_key` is the event's applied-event key (a deterministic tie-break and
/// the basis of timeline keys).
pub fn apply_event(
    current: Option<&Conversation>,
    event: &WebhookEvent,
    event_key: &str,
    ctx: &EventContext<'_>,
) -> Decision {
    let Some(psid) = event.psid.as_deref() else {
        return Decision::Unchanged;
    };
    if event.feed == Feed::DashboardTest || !event.kind.touches_conversation() {
        return Decision::Unchanged;
    }
    let at = event.timestamp.unwrap_or(ctx.now);
    let mut next = current.cloned().unwrap_or_else(|| {
        let mut fresh = Conversation::new(&event.page_id, psid, ctx.now);
        fresh.last_activity_at = at;
        fresh
    });
    let mut rules = Rules {
        state: &mut next,
        timeline: Vec::new(),
        ctx,
        at,
        key: event_key,
    };
    // Every event about the conversation is activity (whether or not it changes anything):
    // the queue's order then does not depend on the order events arrived in.
    rules.activity();
    rules.apply(event);
    let timeline = rules.finish();
    let expected_version = current.map_or(0, |c| c.version);
    next.updated_at = ctx.now;
    next.version = expected_version + 1;
    Decision::Write(Box::new(Transition {
        expected_version,
        state: next,
        timeline,
    }))
}
