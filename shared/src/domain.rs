//! The pure domain: who controls a conversation, the conversation record, its timeline,
//! and the clock. No I/O here.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Meta's own Page Inbox app (Meta Business Suite). A human replying there takes control.
pub const PAGE_INBOX_APP_ID: &str = "263902037430900";

/// Epoch milliseconds. Every event time inside the coordinator is normalised to this.
pub type EpochMillis = i64;
/// Epoch seconds: DynamoDB TTL attributes and `control_expires_at`.
pub type EpochSeconds = i64;
/// Meta idles a thread after 24 h without activity (messenger-platform.md).
pub const META_IDLE_SECS: i64 = 24 * 3600;

/// The role an app plays for a Page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRole {
    Bot,
    Inbox,
    PageInbox,
    Other,
    Idle,
}

impl OwnerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerRole::Bot => "bot",
            OwnerRole::Inbox => "inbox",
            OwnerRole::PageInbox => "page_inbox",
            OwnerRole::Other => "other",
            OwnerRole::Idle => "idle",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "bot" => OwnerRole::Bot,
            "inbox" => OwnerRole::Inbox,
            "page_inbox" => OwnerRole::PageInbox,
            "other" => OwnerRole::Other,
            "idle" => OwnerRole::Idle,
            _ => return None,
        })
    }

    /// Humans answer conversations held by these roles.
    pub fn is_human(self) -> bool {
        matches!(self, OwnerRole::Inbox | OwnerRole::PageInbox)
    }

    /// Control is "away from the bot": a lease (timed reset) runs.
    pub fn holds_lease(self) -> bool {
        matches!(
            self,
            OwnerRole::Inbox | OwnerRole::PageInbox | OwnerRole::Other
        )
    }
}

/// Who controls a conversation. `app_id` is `None` when idle, or when we know only that
/// some app other than ours holds it (role `other`, flagged for re-sync).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub app_id: Option<String>,
    pub role: OwnerRole,
}

impl Owner {
    pub fn idle() -> Self {
        Owner {
            app_id: None,
            role: OwnerRole::Idle,
        }
    }

    /// Some app we cannot name holds the thread.
    pub fn unknown_other() -> Self {
        Owner {
            app_id: None,
            role: OwnerRole::Other,
        }
    }

    pub fn app(app_id: impl Into<String>, role: OwnerRole) -> Self {
        Owner {
            app_id: Some(app_id.into()),
            role,
        }
    }

    pub fn is(&self, app_id: &str) -> bool {
        self.app_id.as_deref() == Some(app_id)
    }
}

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
    /// The dedupe key of the event that asked for it (executes exactly once per event).
    pub event_key: String,
    /// Set while an executor performs it (claimed with a conditional write), so that two
    /// executors never both act.
    #[serde(default)]
    pub executing_since: Option<EpochMillis>,
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
    /// The conversation needs a human and no agent has answered since.
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
            last_postback_at: None,
            control_expires_at: None,
            pending_request: None,
            pending_action: None,
            needs_resync: false,
            reset_claimed_at: None,
            last_activity_at: now,
            updated_at: now,
        }
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

    /// The lease is past its deadline at `now` (whether or not TTL removed it yet).
    pub fn lease_expired(&self, now: EpochMillis) -> bool {
        matches!(self.control_expires_at, Some(due) if due * 1000 <= now)
    }
}

/// Why control changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Webhook,
    Api,
    Trigger,
    Timeout,
    Resync,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Customer,
    Bot,
    Agent,
    PageInbox,
    Other,
}

impl Author {
    pub fn for_role(role: OwnerRole) -> Self {
        match role {
            OwnerRole::Bot => Author::Bot,
            OwnerRole::Inbox => Author::Agent,
            OwnerRole::PageInbox => Author::PageInbox,
            OwnerRole::Other | OwnerRole::Idle => Author::Other,
        }
    }

    pub fn is_human_agent(self) -> bool {
        matches!(self, Author::Agent | Author::PageInbox)
    }
}

/// One append-only timeline entry. `key` is deterministic for the event that produced it,
/// so writing the same entry twice leaves one entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: EpochMillis,
    pub key: String,
    #[serde(flatten)]
    pub record: TimelineRecord,
}

impl TimelineEntry {
    /// The entry `record` written for the event (or API call) keyed `event_key`. The key's
    /// prefix sorts the entries of one millisecond: message (`0-message:`), change of
    /// control (`1-control:`), request (`2-request:`), action (`3-action:`). (A postback's
    /// message entry is keyed by its time instead, `0-postback:`, see `transition`.)
    pub fn new(at: EpochMillis, event_key: &str, record: TimelineRecord) -> Self {
        let prefix = match record {
            TimelineRecord::Message { .. } => "0-message",
            TimelineRecord::Control { .. } => "1-control",
            TimelineRecord::ControlRequest { .. } => "2-request",
            TimelineRecord::ActionRequested { .. } => "3-action",
        };
        TimelineEntry {
            at,
            key: format!("{prefix}:{event_key}"),
            record,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineRecord {
    /// A change of control (or, with `late`, a control event that arrived after a newer one
    /// and did not change the owner).
    Control {
        from: Owner,
        to: Owner,
        cause: Cause,
        /// The app that acted, when known.
        actor: Option<String>,
        /// What happened: `pass_thread_control`, `take_thread_control`, `message`, ...
        event: String,
        metadata: Option<String>,
        late: bool,
    },
    Message {
        author: Author,
        mid: Option<String>,
        app_id: Option<String>,
        text: Option<String>,
        /// Postback or quick-reply payload, when the customer tapped one.
        payload: Option<String>,
        attachments: u32,
    },
    /// Another app asked for control.
    ControlRequest {
        requested_by: String,
        metadata: Option<String>,
    },
    /// A trigger asked for an action (executed by the control-handoff function).
    ActionRequested { action: ActionKind, source: String },
}

/// Source of "now": injectable so rules and tests never depend on the wall clock.
pub trait Clock: Send + Sync {
    fn now_millis(&self) -> EpochMillis;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> EpochMillis {
        Utc::now().timestamp_millis()
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    pub fn at(millis: EpochMillis) -> Self {
        FixedClock(std::sync::atomic::AtomicI64::new(millis))
    }
    pub fn set(&self, millis: EpochMillis) {
        self.0.store(millis, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0
            .fetch_add(secs * 1000, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_millis(&self) -> EpochMillis {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Timestamps below this are taken to be seconds (it is 2001-09-09 in milliseconds, and
/// year 33658 in seconds).
const SECONDS_THRESHOLD: i64 = 1_000_000_000_000;

/// Meta sends most timestamps in milliseconds but some in seconds: normalise to ms.
pub fn normalise_timestamp(value: i64) -> EpochMillis {
    if value.abs() < SECONDS_THRESHOLD {
        value * 1000
    } else {
        value
    }
}

/// RFC 3339 UTC with milliseconds, as the HTTP contract requires.
pub fn rfc3339_millis(at: EpochMillis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 UTC for an epoch-seconds value.
pub fn rfc3339_secs(at: EpochSeconds) -> String {
    rfc3339_millis(at.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_keys_sort_message_control_request_action() {
        // Stored keys: a change here would write second copies of entries already stored.
        let key = |record| TimelineEntry::new(5, "e1", record).key;
        let message = TimelineRecord::Message {
            author: Author::Customer,
            mid: None,
            app_id: None,
            text: None,
            payload: None,
            attachments: 0,
        };
        let control = TimelineRecord::Control {
            from: Owner::idle(),
            to: Owner::idle(),
            cause: Cause::Api,
            actor: None,
            event: "release_thread_control".into(),
            metadata: None,
            late: false,
        };
        let request = TimelineRecord::ControlRequest {
            requested_by: "1".into(),
            metadata: None,
        };
        let action = TimelineRecord::ActionRequested {
            action: ActionKind::PassToInbox,
            source: "payload:x".into(),
        };
        let keys = [key(message), key(control), key(request), key(action)];
        assert_eq!(
            keys,
            [
                "0-message:e1",
                "1-control:e1",
                "2-request:e1",
                "3-action:e1"
            ]
        );
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn timestamps_in_seconds_become_milliseconds() {
        assert_eq!(normalise_timestamp(1_458_692_752), 1_458_692_752_000);
        assert_eq!(normalise_timestamp(1_458_692_752_478), 1_458_692_752_478);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(
            rfc3339_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(rfc3339_secs(1_700_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn roles_round_trip_and_classify() {
        for role in [
            OwnerRole::Bot,
            OwnerRole::Inbox,
            OwnerRole::PageInbox,
            OwnerRole::Other,
            OwnerRole::Idle,
        ] {
            assert_eq!(OwnerRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(OwnerRole::parse("agent"), None);
        assert!(OwnerRole::Inbox.holds_lease() && OwnerRole::Other.holds_lease());
        assert!(!OwnerRole::Bot.holds_lease() && !OwnerRole::Idle.holds_lease());
    }

    #[test]
    fn lease_expiry_is_judged_against_now() {
        let mut c = Conversation::new("p", "u", 0);
        assert!(!c.lease_expired(10_000));
        c.control_expires_at = Some(10);
        assert!(!c.lease_expired(9_999));
        assert!(c.lease_expired(10_000));
    }
}
