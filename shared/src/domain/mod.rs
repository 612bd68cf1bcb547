//! The pure domain: who controls a conversation, the conversation record and its lease,
//! the timeline, the clock, webhook events, and the transition rules. No I/O, no AWS, no
//! HTTP, no store types.

mod conversation;
mod event;
mod owner;
mod time;
mod timeline;
pub mod transition;

pub use conversation::{ActionKind, Conversation, PendingRequest, RequestedAction};
pub use event::{Channel, EventKind, WebhookEvent};
pub use owner::{Owner, OwnerRole, PAGE_INBOX_APP_ID};
pub use time::{
    normalise_expiry, normalise_timestamp, plausible_time, rfc3339_millis, rfc3339_secs, Clock,
    EpochMillis, EpochSeconds, FixedClock, SystemClock, META_IDLE_SECS, PLAUSIBLE_MILLIS,
};
pub use timeline::{
    agent_metadata, agent_of_metadata, Author, Cause, TimelineEntry, TimelineRecord,
};
