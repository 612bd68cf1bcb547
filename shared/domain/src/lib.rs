//! `routing-domain`: who controls a conversation, the conversation record and its lease,
//! the timeline, the clock, webhook events, the transition rules, opening hours and time
//! zones, and a Page's policy. No I/O, no AWS, no Lambda, no HTTP, and no other crate of
//! the workspace: the compiler keeps it so.

mod business_event;
mod channel;
mod conversation;
mod handover;
mod opening_hours;
mod owner;
pub mod policy;
mod time;
mod timeline;
pub mod transition;
mod webhook_event;
mod zone;

pub use business_event::{
    events_between, last_control_change, BusinessEvent, ControlChangeNote, DetailType, EventParty,
    EVENT_SOURCE,
};
pub use channel::Channel;
pub use conversation::{ActionKind, Conversation, PendingRequest, RequestedAction};
pub use handover::{note_write, HandoverPolicy, AUTOMATIC_MESSAGE_METADATA};
pub use opening_hours::{civil_date, day_number, DayNumber, OpeningHours, MINUTES_PER_DAY};
pub use owner::{Owner, OwnerRole, PAGE_INBOX_APP_ID};
pub use time::{
    normalise_expiry, normalise_timestamp, plausible_time, rfc3339_millis, rfc3339_secs, Clock,
    EpochMillis, EpochSeconds, FixedClock, SystemClock, META_IDLE_SECS, PLAUSIBLE_MILLIS,
};
pub use timeline::{
    agent_control_metadata, agent_metadata, agent_of_metadata, names_an_agent,
    split_agent_metadata, Author, Cause, Happening, TimelineEntry,
};
pub use webhook_event::{EventKind, Feed, WebhookEvent};
pub use zone::Zone;
