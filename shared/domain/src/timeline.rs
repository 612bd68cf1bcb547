//! The append-only timeline of a conversation: messages, changes of control, requests and
//! actions, each with a deterministic key.

use serde::{Deserialize, Serialize};

use super::conversation::ActionKind;
use super::owner::{Owner, OwnerRole};
use super::time::EpochMillis;

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

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Webhook => "webhook",
            Cause::Api => "api",
            Cause::Trigger => "trigger",
            Cause::Timeout => "timeout",
            Cause::Resync => "resync",
        }
    }
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

/// The Send API `metadata` of a message an agent sent through the API names them
/// (`agent:<agent_name>`), so that the message's echo, which is what enters the timeline,
/// credits them.
const AGENT_METADATA_PREFIX: &str = "agent:";

/// The Send API `metadata` naming the agent `name`.
pub fn agent_metadata(name: &str) -> String {
    format!("{AGENT_METADATA_PREFIX}{name}")
}

/// The agent an echo's `metadata` names (see [`agent_metadata`]), when it names one.
pub fn agent_of_metadata(metadata: Option<&str>) -> Option<String> {
    metadata?
        .strip_prefix(AGENT_METADATA_PREFIX)
        .filter(|name| !name.trim().is_empty() && name.chars().count() <= 100)
        .map(str::to_string)
}

/// The `metadata` of a thread-control call an agent made through the API: their name
/// (`agent:<agent_name>`), then, on the next line, the caller's own metadata. Meta hands it
/// back in the webhook about the change, which then credits the agent whichever of the two
/// is applied first (see [`split_agent_metadata`]).
pub fn agent_control_metadata(agent: &str, metadata: Option<&str>) -> String {
    match metadata {
        Some(metadata) => format!("{AGENT_METADATA_PREFIX}{agent}\n{metadata}"),
        None => agent_metadata(agent),
    }
}

/// A thread-control webhook's `metadata` as the agent it names (see
/// [`agent_control_metadata`]) and the caller's own metadata.
pub fn split_agent_metadata(metadata: Option<&str>) -> (Option<String>, Option<&str>) {
    let Some(tagged) = metadata.and_then(|m| m.strip_prefix(AGENT_METADATA_PREFIX)) else {
        return (None, metadata);
    };
    let (name, rest) = match tagged.split_once('\n') {
        Some((name, rest)) => (name, Some(rest)),
        None => (tagged, None),
    };
    match agent_of_metadata(Some(&agent_metadata(name))) {
        Some(agent) => (Some(agent), rest),
        None => (None, metadata),
    }
}

/// Whether caller-given `metadata` would read as naming an agent (reserved).
pub fn names_an_agent(metadata: &str) -> bool {
    metadata.starts_with(AGENT_METADATA_PREFIX)
}

/// One append-only timeline entry. `key` is deterministic for the event that produced it,
/// so writing the same entry twice leaves one entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: EpochMillis,
    pub key: String,
    /// The agent who acted through the API, as their API token names them (`agent_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(flatten)]
    pub record: Happening,
}

impl TimelineEntry {
    /// The entry `record` written for the event (or API call) keyed `event_key`. The key's
    /// prefix sorts the entries of one millisecond: message (`0-message:`), change of
    /// control (`1-control:`), request (`2-request:`), action (`3-action:`), failed action
    /// (`4-action-failed:`). (A postback's
    /// message entry is keyed by its time instead, `0-postback:`, see `transition`.)
    pub fn new(at: EpochMillis, event_key: &str, record: Happening) -> Self {
        let prefix = match record {
            Happening::Message { .. } => "0-message",
            Happening::System { .. } => "0-system",
            Happening::Control { .. } => "1-control",
            Happening::ControlRequest { .. } => "2-request",
            Happening::ActionRequested { .. } => "3-action",
            Happening::ActionFailed { .. } => "4-action-failed",
        };
        TimelineEntry {
            at,
            key: format!("{prefix}:{event_key}"),
            agent: None,
            record,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Happening {
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
    /// A message Meta wrote into the thread itself (no `mid`), e.g. Meta Business AI
    /// handing the conversation back; `event` is where it came from.
    System { event: String, text: Option<String> },
    /// Another app asked for control.
    ControlRequest {
        requested_by: String,
        metadata: Option<String>,
    },
    /// A trigger asked for an action (executed by the control-handoff function).
    ActionRequested { action: ActionKind, source: String },
    /// A trigger's action that could not be done (Meta refused it, or control had moved
    /// on): `reason` says why, in our words.
    ActionFailed {
        action: ActionKind,
        source: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_keys_sort_message_control_request_action() {
        // Stored keys: a change here would write second copies of entries already stored.
        let key = |record| TimelineEntry::new(5, "e1", record).key;
        let message = Happening::Message {
            author: Author::Customer,
            mid: None,
            app_id: None,
            text: None,
            payload: None,
            attachments: 0,
        };
        let control = Happening::Control {
            from: Owner::idle(),
            to: Owner::idle(),
            cause: Cause::Api,
            actor: None,
            event: "release_thread_control".into(),
            metadata: None,
            late: false,
        };
        let request = Happening::ControlRequest {
            requested_by: "1".into(),
            metadata: None,
        };
        let action = Happening::ActionRequested {
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
}
