//! The JSON views of the contract: times in RFC 3339, the lease's state as of now.

use serde::{Deserialize, Serialize};

use routing_domain::{
    rfc3339_millis, rfc3339_secs, ActionKind, Conversation, EpochMillis, Happening, Owner,
    TimelineEntry,
};
use routing_usecases::control::{ControlOutcome, MessageOutcome};
use routing_usecases::ports::{Listing, MessagingType};
use routing_usecases::resync::ResyncOutcome;

/// `{"page_id","psid","owner":{"app_id","role"},...}`: the contract's conversation state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    pub page_id: String,
    pub psid: String,
    pub owner: Owner,
    pub unread: bool,
    pub version: u64,
    pub control_expires_at: Option<String>,
    /// The lease's deadline has passed (the timed reset is due, whether or not it ran).
    pub lease_expired: bool,
    pub last_customer_message_at: Option<String>,
    pub pending_request: Option<PendingRequestView>,
    pub pending_action: Option<ActionKind>,
    pub needs_resync: bool,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequestView {
    pub app_id: String,
    pub at: String,
}

impl ConversationView {
    pub fn of(c: &Conversation, now: EpochMillis) -> Self {
        ConversationView {
            page_id: c.page_id.clone(),
            psid: c.psid.clone(),
            owner: c.owner_at(now),
            unread: c.unread,
            version: c.version,
            control_expires_at: c.control_expires_at.map(rfc3339_secs),
            lease_expired: c.lease_expired(now),
            last_customer_message_at: c.last_customer_message_at.map(rfc3339_millis),
            pending_request: c.pending_request.as_ref().map(|p| PendingRequestView {
                app_id: p.app_id.clone(),
                at: rfc3339_millis(p.at),
            }),
            pending_action: c.pending_action.as_ref().map(|a| a.action),
            needs_resync: c.needs_resync,
            updated_at: rfc3339_millis(c.updated_at),
        }
    }

    /// A listing of conversations as views.
    pub fn listing(listing: Listing<Conversation>, now: EpochMillis) -> Listing<Self> {
        Listing {
            items: listing.items.iter().map(|c| Self::of(c, now)).collect(),
            next_cursor: listing.next_cursor,
        }
    }
}

/// `POST .../control`'s answer: the conversation view and, when nothing needed doing (a
/// reset of a conversation already with its target), `"unchanged": "<why>"`.
#[derive(Clone, Debug, Serialize)]
pub struct ControlView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<&'static str>,
}

impl ControlView {
    pub fn of(outcome: &ControlOutcome, now: EpochMillis) -> Self {
        ControlView {
            conversation: ConversationView::of(&outcome.conversation, now),
            unchanged: outcome.unchanged,
        }
    }
}

/// A timeline entry with its time in RFC 3339.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineView {
    pub at: String,
    pub key: String,
    /// The agent who acted through the API (their token's `agent_name`), when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(flatten)]
    pub record: Happening,
}

impl TimelineView {
    pub fn listing(listing: Listing<TimelineEntry>) -> Listing<Self> {
        Listing {
            items: listing
                .items
                .into_iter()
                .map(|e| TimelineView {
                    at: rfc3339_millis(e.at),
                    key: e.key,
                    agent: e.agent,
                    record: e.record,
                })
                .collect(),
            next_cursor: listing.next_cursor,
        }
    }
}

/// `POST .../messages`' answer.
#[derive(Clone, Debug, Serialize)]
pub struct MessageView {
    pub message_id: String,
    pub messaging_type: MessagingType,
    pub conversation: ConversationView,
}

impl MessageView {
    pub fn of(outcome: MessageOutcome, now: EpochMillis) -> Self {
        MessageView {
            message_id: outcome.message_id,
            messaging_type: outcome.messaging_type,
            conversation: ConversationView::of(&outcome.conversation, now),
        }
    }
}

/// `POST .../resync`'s answer: `{"owner","control_expires_at","changed"}` and the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResyncView {
    pub owner: Owner,
    pub control_expires_at: Option<String>,
    pub changed: bool,
    pub asked_as: String,
    pub conversation: ConversationView,
}

impl ResyncView {
    pub fn of(outcome: &ResyncOutcome, now: EpochMillis) -> Self {
        ResyncView {
            owner: outcome.conversation.owner.clone(),
            control_expires_at: outcome.conversation.control_expires_at.map(rfc3339_secs),
            changed: outcome.changed,
            asked_as: outcome.asked_as.clone(),
            conversation: ConversationView::of(&outcome.conversation, now),
        }
    }
}
