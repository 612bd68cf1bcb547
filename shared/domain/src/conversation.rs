//! The one record of a conversation's control, its lease, and what is pending on it (a
//! request for control, a trigger's action).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::business_event::ControlChangeNote;
use super::owner::{Owner, OwnerRole};
use super::time::{EpochMillis, EpochSeconds, META_IDLE_SECS};

/// An app that asked for control and has not got it yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub app_id: String,
    pub at: EpochMillis,
}

/// A Graph action that a webhook event asked for (a trigger payload or keyword, or a
/// request for control the Page grants automatically). Recorded by ingest; executed once
/// by the control-handoff function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedAction {
    pub action: ActionKind,
    /// The app that must perform the Graph call (the one that received the event).
    pub acting_app_id: String,
    /// Where control should go (`pass` actions).
    pub target_app_id: Option<String>,
    /// What set it off: a payload, a keyword or `request_thread_control`.
    pub source: String,
    pub at: EpochMillis,
    /// The applied-event key of the event that asked for it (executes exactly once per event).
    pub event_key: String,
    /// Set while an executor performs it (claimed with a conditional write), so that two
    /// executors never both act.
    #[serde(default)]
    pub executing_since: Option<EpochMillis>,
    /// Recording this action flagged the conversation `needs_resync` (it was not flagged
    /// before): a pending action keeps its conversation in the re-sync index, so that the
    /// batch finds an action no delivery executed; finishing the action takes the flag
    /// back.
    #[serde(default)]
    pub flagged: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Hand the conversation to the human inbox and send the `to_human` confirmation.
    PassToInbox,
    /// Hand the conversation back to the bot and send the `to_bot` confirmation.
    PassToBot,
    /// Grant a `request_thread_control` by passing to the requester.
    GrantRequest,
}

/// The one record of a conversation's control, keyed by (page_id, psid).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub page_id: String,
    pub psid: String,
    pub owner: Owner,
    /// The conversation needs a human and no agent has answered since: derived from the
    /// ordered facts below (see [`Conversation::derive_unread`]), stored for the queue index.
    pub unread: bool,
    /// Increases by one on every write; every write is conditional on it.
    pub version: u64,
    /// Newest control event applied (ordering guard), with its key as a tie-break.
    #[serde(default)]
    pub last_control_event_at: Option<EpochMillis>,
    #[serde(default)]
    pub last_control_event_key: Option<String>,
    /// Per app, the newest time a `standby` delivery proved it was *not* the owner.
    #[serde(default)]
    pub standby_seen_at: BTreeMap<String, EpochMillis>,
    #[serde(default)]
    pub last_customer_message_at: Option<EpochMillis>,
    /// Newest hand-over to a human owner (a pass to the inbox or Meta's Page Inbox).
    #[serde(default)]
    pub handed_to_humans_at: Option<EpochMillis>,
    /// Newest time an agent answered: a reply, a take through the API, or marking it read.
    #[serde(default)]
    pub answered_at: Option<EpochMillis>,
    /// Time of the newest postback recorded (its `messaging` and `standby` copies share it).
    #[serde(default)]
    pub last_postback_at: Option<EpochMillis>,
    /// When the timed reset is due (epoch seconds); `Some` exactly while control is away
    /// from the bot.
    #[serde(default)]
    pub control_expires_at: Option<EpochSeconds>,
    #[serde(default)]
    pub pending_request: Option<PendingRequest>,
    #[serde(default)]
    pub pending_action: Option<RequestedAction>,
    #[serde(default)]
    pub needs_resync: bool,
    /// Set while a timed reset acts on this conversation (claimed with a conditional
    /// write, so the sweep and the stream path never both act).
    #[serde(default)]
    pub reset_claimed_at: Option<EpochMillis>,
    /// The token of the write that stored this version: a writer whose answer was lost
    /// recognises its own committed write by it on the next read.
    #[serde(default)]
    pub write_token: Option<String>,
    /// The newest change of control recorded (what the events published from the table's
    /// stream say: from, to, cause, actor).
    #[serde(default)]
    pub last_control_change: Option<ControlChangeNote>,
    /// When the newest hand-over to humans counts as unclaimed (epoch seconds): set by a
    /// hand-over on a Page with `unclaimed_after_secs`, cleared by an answer, by control
    /// leaving humans, or when it fires.
    #[serde(default)]
    pub unclaimed_due_at: Option<EpochSeconds>,
    /// When the newest hand-over was found unclaimed (the `conversation.unclaimed` event).
    #[serde(default)]
    pub unclaimed_at: Option<EpochMillis>,
    /// The newest hand-over happened outside opening hours and the Page's `out_of_hours`
    /// message is still to be sent (epoch seconds: due at once); cleared when sent or
    /// answered.
    #[serde(default)]
    pub out_of_hours_due: Option<EpochSeconds>,
    /// When the record expires (epoch seconds): `idle_expiry_days` after its newest
    /// activity (and never before its lease's deadline), set by every write. Stored as the
    /// table's TTL attribute, `ttl`, so DynamoDB deletes idle records.
    #[serde(default, rename = "ttl", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<EpochSeconds>,
    /// A random name of the conversation for events, unrelated to the psid (set by its
    /// first write, kept for the record's life).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The Page lets events name the customer (psid) and the agent (its
    /// `events_identify_people`, as of this version's write).
    #[serde(default)]
    pub events_identify_people: bool,
    /// Newest customer, agent or control activity: orders the queue.
    pub last_activity_at: EpochMillis,
    pub updated_at: EpochMillis,
}

impl Conversation {
    /// A conversation we have never seen: idle, version 0 (not stored yet).
    pub fn new(page_id: impl Into<String>, psid: impl Into<String>, now: EpochMillis) -> Self {
        Conversation {
            page_id: page_id.into(),
            psid: psid.into(),
            owner: Owner::idle(),
            unread: false,
            version: 0,
            last_control_event_at: None,
            last_control_event_key: None,
            standby_seen_at: BTreeMap::new(),
            last_customer_message_at: None,
            handed_to_humans_at: None,
            answered_at: None,
            last_postback_at: None,
            control_expires_at: None,
            pending_request: None,
            pending_action: None,
            needs_resync: false,
            reset_claimed_at: None,
            write_token: None,
            last_control_change: None,
            unclaimed_due_at: None,
            unclaimed_at: None,
            out_of_hours_due: None,
            expires_at: None,
            alias: None,
            events_identify_people: false,
            last_activity_at: now,
            updated_at: now,
        }
    }

    /// Note when the record expires: `idle_secs` after its newest activity, and never
    /// before its lease's deadline.
    pub fn note_expiry(&mut self, idle_secs: i64) {
        let active = self
            .last_activity_at
            .div_euclid(1000)
            .max(self.control_expires_at.unwrap_or(EpochSeconds::MIN));
        self.expires_at = Some(active.saturating_add(idle_secs));
    }

    /// Record that `app_id` asked for control at `at`: never for the app that already
    /// holds it, and an older request does not replace a newer one. Returns whether the
    /// requester does not hold the thread (so the request is still open).
    pub fn request_control(&mut self, app_id: &str, at: EpochMillis) -> bool {
        if app_id.is_empty() || self.owner.is(app_id) {
            return false;
        }
        if self.pending_request.as_ref().is_none_or(|p| p.at <= at) {
            self.pending_request = Some(PendingRequest {
                app_id: app_id.to_string(),
                at,
            });
        }
        true
    }

    /// A request for control is answered once its requester owns the thread.
    pub fn settle_request(&mut self) {
        if let Some(pending) = &self.pending_request {
            if self.owner.is(&pending.app_id) {
                self.pending_request = None;
            }
        }
    }

    /// Unread, from ordered facts whatever order they arrived in: a human holds the thread,
    /// and the customer's newest message or the newest hand-over to humans is newer than
    /// the newest answer.
    pub fn derive_unread(&mut self) {
        let waiting_since = self.last_customer_message_at.max(self.handed_to_humans_at);
        self.unread = self.owner.role.is_human() && waiting_since > self.answered_at;
    }

    /// The customer wrote at `at`.
    pub fn note_customer_message(&mut self, at: EpochMillis) {
        self.last_customer_message_at = self.last_customer_message_at.max(Some(at));
        self.derive_unread();
    }

    /// The thread was handed to humans at `at`.
    pub fn note_handover_to_humans(&mut self, at: EpochMillis) {
        self.handed_to_humans_at = self.handed_to_humans_at.max(Some(at));
        self.derive_unread();
    }

    /// An agent answered at `at`.
    pub fn note_answered(&mut self, at: EpochMillis) {
        self.answered_at = self.answered_at.max(Some(at));
        self.derive_unread();
    }

    /// A new owner starts a fresh window at `at`: an extension granted to the previous
    /// owner does not carry over (the one rule for webhooks and the control API). A
    /// customer message newer than the change (delivered before it) still counts.
    pub fn start_lease(&mut self, at: EpochMillis, window_secs: i64) {
        self.control_expires_at = None;
        let newest = self.last_customer_message_at.map_or(at, |m| m.max(at));
        self.renew_lease(newest, window_secs);
    }

    /// Renew the lease to at least `at + window_secs`. A lease exists exactly while
    /// control is away from the bot, and renewals only ever move it later.
    pub fn renew_lease(&mut self, at: EpochMillis, window_secs: i64) {
        if self.owner.role.holds_lease() {
            let due = at.div_euclid(1000) + window_secs;
            self.control_expires_at = Some(self.control_expires_at.map_or(due, |d| d.max(due)));
        } else {
            self.control_expires_at = None;
        }
    }

    /// What a control event changes: the owner and the newest control event applied. When
    /// it differs from what was read before a Graph call, a decision made on that read may
    /// predate a newer event.
    pub fn control_marker(&self) -> (&Owner, Option<EpochMillis>, Option<&str>) {
        (
            &self.owner,
            self.last_control_event_at,
            self.last_control_event_key.as_deref(),
        )
    }

    /// Meta has idled the thread by `now`: nobody holds it, or 24 h passed since its last
    /// customer message or change of control (Meta's idle rule), and any lease we know of
    /// (an extension moves Meta's expiry too) has run out.
    pub fn idle_at_meta(&self, now: EpochMillis) -> bool {
        if self.owner.role == OwnerRole::Idle {
            return true;
        }
        let Some(last) = self
            .last_customer_message_at
            .max(self.last_control_event_at)
        else {
            return false;
        };
        let deadline =
            (last.div_euclid(1000) + META_IDLE_SECS).max(self.control_expires_at.unwrap_or(0));
        now.div_euclid(1000) >= deadline
    }

    /// The owner as of `now` (idle once Meta has idled the thread).
    pub fn owner_at(&self, now: EpochMillis) -> Owner {
        if self.idle_at_meta(now) {
            return Owner::idle();
        }
        self.owner.clone()
    }

    /// The lease is past its deadline at `now` (whether or not TTL removed it yet).
    pub fn lease_expired(&self, now: EpochMillis) -> bool {
        matches!(self.control_expires_at, Some(due) if due * 1000 <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_expiry_is_judged_against_now() {
        let mut c = Conversation::new("p", "u", 0);
        assert!(!c.lease_expired(10_000));
        c.control_expires_at = Some(10);
        assert!(!c.lease_expired(9_999));
        assert!(c.lease_expired(10_000));
    }
}
