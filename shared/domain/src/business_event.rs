//! The events the coordinator tells the business about (docs/architecture.md, "Events"):
//! every change of control, and a hand-over nobody answered. Pure: what a write recorded
//! ([`last_control_change`]), which detail-type a change is ([`DetailType::of_change`]),
//! and which events lie between two versions of a record ([`events_between`]).

use serde::{Deserialize, Serialize};

use super::conversation::Conversation;
use super::owner::{Owner, OwnerRole};
use super::time::EpochMillis;
use super::timeline::{Cause, Happening, TimelineEntry};

/// The `source` of every event on the bus.
pub const EVENT_SOURCE: &str = "messenger-routing";

/// The newest change of control a write recorded, kept on the record so that the record's
/// stream image alone says what changed, why and who did it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlChangeNote {
    pub from: Owner,
    pub to: Owner,
    pub cause: Cause,
    #[serde(default)]
    pub actor: Option<String>,
    /// The agent who acted through the API, as their API token names them.
    #[serde(default)]
    pub agent: Option<String>,
    /// `pass_thread_control`, `take_thread_control`, `meta_idle_timeout`, ...
    pub event: String,
    pub at: EpochMillis,
}

/// The newest change of control among a write's timeline entries: a `control` entry that
/// moved the owner (not a late event, not an extension that kept it).
pub fn last_control_change(timeline: &[TimelineEntry]) -> Option<ControlChangeNote> {
    timeline.iter().rev().find_map(|entry| match &entry.record {
        Happening::Control {
            from,
            to,
            cause,
            actor,
            event,
            late: false,
            ..
        } if from != to => Some(ControlChangeNote {
            from: from.clone(),
            to: to.clone(),
            cause: *cause,
            actor: actor.clone(),
            agent: entry.agent.clone(),
            event: event.clone(),
            at: entry.at,
        }),
        _ => None,
    })
}

/// The detail-type of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetailType {
    #[serde(rename = "conversation.control_changed")]
    ControlChanged,
    #[serde(rename = "conversation.handed_to_humans")]
    HandedToHumans,
    #[serde(rename = "conversation.returned_to_bot")]
    ReturnedToBot,
    #[serde(rename = "conversation.reset_by_timeout")]
    ResetByTimeout,
    #[serde(rename = "conversation.unclaimed")]
    Unclaimed,
}

impl DetailType {
    pub const ALL: [DetailType; 5] = [
        DetailType::ControlChanged,
        DetailType::HandedToHumans,
        DetailType::ReturnedToBot,
        DetailType::ResetByTimeout,
        DetailType::Unclaimed,
    ];

    pub fn detail_type(self) -> &'static str {
        match self {
            DetailType::ControlChanged => "conversation.control_changed",
            DetailType::HandedToHumans => "conversation.handed_to_humans",
            DetailType::ReturnedToBot => "conversation.returned_to_bot",
            DetailType::ResetByTimeout => "conversation.reset_by_timeout",
            DetailType::Unclaimed => "conversation.unclaimed",
        }
    }

    /// The one detail-type of a change of control: a timeout is a reset whatever it moved;
    /// control reaching humans from elsewhere is a hand-over; control leaving humans for
    /// the bot or for nobody (a release: the bot answers next) is a return; anything else
    /// (a human to another human, the bot to another app) is a plain change.
    pub fn of_change(from: OwnerRole, to: OwnerRole, cause: Cause) -> DetailType {
        if cause == Cause::Timeout {
            DetailType::ResetByTimeout
        } else if to.is_human() && !from.is_human() {
            DetailType::HandedToHumans
        } else if from.is_human() && matches!(to, OwnerRole::Bot | OwnerRole::Idle) {
            DetailType::ReturnedToBot
        } else {
            DetailType::ControlChanged
        }
    }
}

/// One side of a change: the app (`null` when idle or unknown) and its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventParty {
    pub app_id: Option<String>,
    pub role: OwnerRole,
}

impl From<&Owner> for EventParty {
    fn from(owner: &Owner) -> Self {
        EventParty {
            app_id: owner.app_id.clone(),
            role: owner.role,
        }
    }
}

/// An event's `detail` (schema: `docs/events.schema.json`). Never any message text; the
/// customer's psid and the agent's name only where the Page opts in
/// (`events_identify_people`). Consumers de-duplicate on (`page_id`, `conversation`,
/// `version`): one version of a record yields at most one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessEvent {
    #[serde(skip)]
    pub kind: Option<DetailType>,
    pub page_id: String,
    /// The conversation's alias: random, unrelated to the psid, the same for every event
    /// of the conversation.
    pub conversation: String,
    /// The customer's page-scoped id, where the Page opts in (`null` otherwise).
    pub psid: Option<String>,
    pub from: EventParty,
    pub to: EventParty,
    /// `webhook`, `api`, `trigger`, `timeout`, `resync`, or `unclaimed`.
    pub cause: String,
    /// The app that acted, when known.
    pub actor: Option<String>,
    /// The agent who acted through the API (the token's `agent_name`), when known and the
    /// Page opts in.
    pub agent: Option<String>,
    /// What happened at Meta: `pass_thread_control`, `take_thread_control`, ...
    pub event: String,
    /// When it happened (RFC 3339, milliseconds, UTC).
    pub time: String,
    /// The record's version that recorded it.
    pub version: u64,
}

impl BusinessEvent {
    pub fn kind(&self) -> DetailType {
        self.kind.unwrap_or(DetailType::ControlChanged)
    }
}

/// The event `new` records over `old` (`None`: the record did not exist), if any: a change
/// of control noted by this version, or else a hand-over marked unclaimed by it.
pub fn events_between(old: Option<&Conversation>, new: &Conversation) -> Option<BusinessEvent> {
    let old_change = old.and_then(|o| o.last_control_change.as_ref());
    let identify = new.events_identify_people;
    let event = |kind, from: &Owner, to: &Owner, cause: &str, at, event: &str| BusinessEvent {
        kind: Some(kind),
        page_id: new.page_id.clone(),
        conversation: alias_of(new),
        psid: identify.then(|| new.psid.clone()),
        from: from.into(),
        to: to.into(),
        cause: cause.to_string(),
        actor: None,
        agent: None,
        event: event.to_string(),
        time: super::time::rfc3339_millis(at),
        version: new.version,
    };
    if let Some(change) = new
        .last_control_change
        .as_ref()
        .filter(|c| Some(*c) != old_change)
    {
        let kind = DetailType::of_change(change.from.role, change.to.role, change.cause);
        let cause = change.cause.as_str();
        let mut out = event(
            kind,
            &change.from,
            &change.to,
            cause,
            change.at,
            &change.event,
        );
        out.actor = change.actor.clone();
        out.agent = change.agent.clone().filter(|_| identify);
        return Some(out);
    }
    let fired = new.unclaimed_at?;
    if old.and_then(|o| o.unclaimed_at) == Some(fired) {
        return None;
    }
    Some(event(
        DetailType::Unclaimed,
        &new.owner,
        &new.owner,
        "unclaimed",
        fired,
        "unclaimed",
    ))
}

/// The record's alias; for a record last written before aliases existed, a digest of its
/// key (stable, and no psid in clear).
fn alias_of(record: &Conversation) -> String {
    use sha2::{Digest, Sha256};
    record.alias.clone().unwrap_or_else(|| {
        let digest = Sha256::digest(format!("{}:{}", record.page_id, record.psid));
        hex::encode(&digest[..16])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OwnerRole::*;

    #[test]
    fn each_change_has_one_detail_type() {
        use DetailType as K;
        let cases = [
            (Bot, Inbox, Cause::Trigger, K::HandedToHumans),
            (Idle, PageInbox, Cause::Webhook, K::HandedToHumans),
            (Other, Inbox, Cause::Api, K::HandedToHumans),
            (Inbox, Bot, Cause::Api, K::ReturnedToBot),
            (PageInbox, Idle, Cause::Webhook, K::ReturnedToBot),
            (Inbox, Idle, Cause::Timeout, K::ResetByTimeout),
            (Other, Bot, Cause::Timeout, K::ResetByTimeout),
            (Inbox, PageInbox, Cause::Webhook, K::ControlChanged),
            (Bot, Other, Cause::Webhook, K::ControlChanged),
            (Idle, Bot, Cause::Webhook, K::ControlChanged),
            (Other, Bot, Cause::Resync, K::ControlChanged),
        ];
        for (from, to, cause, kind) in cases {
            assert_eq!(
                DetailType::of_change(from, to, cause),
                kind,
                "{from:?} -> {to:?}"
            );
        }
        for kind in DetailType::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.detail_type());
        }
    }

    fn control(from: Owner, to: Owner, late: bool) -> TimelineEntry {
        TimelineEntry::new(
            7,
            "e",
            Happening::Control {
                from,
                to,
                cause: Cause::Webhook,
                actor: Some("1001".into()),
                event: "pass_thread_control".into(),
                metadata: None,
                late,
            },
        )
    }

    #[test]
    fn only_entries_that_moved_the_owner_are_changes() {
        let bot = Owner::app("1001", Bot);
        let inbox = Owner::app("2002", Inbox);
        assert_eq!(last_control_change(&[]), None);
        assert_eq!(
            last_control_change(&[control(bot.clone(), bot.clone(), false)]),
            None
        );
        assert_eq!(
            last_control_change(&[control(bot.clone(), inbox.clone(), true)]),
            None
        );
        let entries = [
            control(bot.clone(), inbox.clone(), false),
            control(inbox.clone(), bot.clone(), false),
            control(bot.clone(), bot.clone(), false),
        ];
        let newest = last_control_change(&entries).unwrap();
        assert_eq!((newest.from, newest.to), (inbox, bot));
        assert_eq!(newest.actor.as_deref(), Some("1001"));
    }

    #[test]
    fn a_version_yields_its_own_change_once_and_never_text() {
        let mut old = Conversation::new("p", "u", 0);
        old.version = 3;
        let mut new = old.clone();
        new.version = 4;
        assert_eq!(events_between(Some(&old), &new), None, "nothing changed");
        new.last_control_change = last_control_change(&[control(
            Owner::app("1001", Bot),
            Owner::app("2002", Inbox),
            false,
        )]);
        new.owner = Owner::app("2002", Inbox);
        let event = events_between(Some(&old), &new).unwrap();
        assert_eq!(event.kind(), DetailType::HandedToHumans);
        assert_eq!((event.version, event.cause.as_str()), (4, "webhook"));
        assert_eq!(event.time, "1970-01-01T00:00:00.007Z");
        let detail = serde_json::to_value(&event).unwrap();
        let mut fields: Vec<&str> = detail
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "actor",
                "agent",
                "cause",
                "conversation",
                "event",
                "from",
                "page_id",
                "psid",
                "time",
                "to",
                "version"
            ]
        );
        // No psid, no agent unless the Page opts in.
        assert_eq!(
            (event.psid.as_deref(), event.agent.as_deref()),
            (None, None)
        );
        assert!(!event.conversation.contains('u'), "{}", event.conversation);
        let mut identified = new.clone();
        identified.events_identify_people = true;
        let named = events_between(Some(&old), &identified).unwrap();
        assert_eq!(named.psid.as_deref(), Some("u"));
        assert_eq!(named.conversation, event.conversation);
        let mut by_agent = new.clone();
        if let Some(change) = by_agent.last_control_change.as_mut() {
            change.agent = Some("Sam".into());
        }
        assert_eq!(events_between(Some(&old), &by_agent).unwrap().agent, None);
        by_agent.events_identify_people = true;
        let named = events_between(Some(&old), &by_agent).unwrap();
        assert_eq!(named.agent.as_deref(), Some("Sam"));
        // The next version keeps the note: no second event for it.
        let mut later = new.clone();
        later.version = 5;
        assert_eq!(events_between(Some(&new), &later), None);
        // A record inserted with a change is one event too.
        assert!(events_between(None, &new).is_some());
    }

    #[test]
    fn an_unclaimed_hand_over_is_one_event() {
        let mut old = Conversation::new("p", "u", 0);
        old.owner = Owner::app("2002", Inbox);
        old.version = 2;
        let mut new = old.clone();
        new.version = 3;
        new.unclaimed_at = Some(60_000);
        let event = events_between(Some(&old), &new).unwrap();
        assert_eq!(event.kind(), DetailType::Unclaimed);
        assert_eq!((event.from.role, event.to.role), (Inbox, Inbox));
        let mut later = new.clone();
        later.version = 4;
        assert_eq!(events_between(Some(&new), &later), None);
    }
}
