//! A Page's policy: who its bot and its inbox are, how long a hand-over lasts and what
//! ends it, which payloads and keywords move control, its messages, its opening hours and
//! how long its history is kept. The configuration document writes it (one entry of
//! `pages`); the transition rules and the use cases read it.

mod opening_hours;

pub use opening_hours::{ClosedDate, OpenInterval, OpeningHoursConfig, WeeklyHours, ZoneName};

use serde::{Deserialize, Serialize};

use crate::{Channel, HandoverPolicy, OpeningHours, OwnerRole, PAGE_INBOX_APP_ID};

/// Longest control window a Page may configure: Meta's extend limit (7 days).
pub const MAX_RESET_AFTER_SECS: u64 = 7 * 24 * 3600;

/// What "reset" means for a Page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResetAction {
    /// Release the thread: it becomes idle and the default app answers next.
    #[default]
    Release,
    /// Pass the thread back to the Page's bot.
    PassToBot,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageMessages {
    #[serde(default)]
    pub to_human: Option<String>,
    #[serde(default)]
    pub to_bot: Option<String>,
    /// Sent to the customer (once per hand-over) when a hand-over to humans happens
    /// outside the Page's opening hours.
    #[serde(default)]
    pub out_of_hours: Option<String>,
}

fn default_reset_after_secs() -> u64 {
    24 * 3600
}

/// `idle_expiry_days` when a Page does not set it: a year.
pub const DEFAULT_IDLE_EXPIRY_DAYS: u64 = 365;
/// The shortest `idle_expiry_days`: longer than the longest window (7 days) and Meta's
/// `HUMAN_AGENT` reply window (7 days), so no record expires while it can still matter.
pub const MIN_IDLE_EXPIRY_DAYS: u64 = 8;
/// The longest `idle_expiry_days` (ten years).
pub const MAX_IDLE_EXPIRY_DAYS: u64 = 3650;

fn default_idle_expiry_days() -> u64 {
    DEFAULT_IDLE_EXPIRY_DAYS
}

/// `timeline_retention_days` when a Page does not set it.
pub const DEFAULT_TIMELINE_RETENTION_DAYS: u64 = 90;

fn default_timeline_retention_days() -> u64 {
    DEFAULT_TIMELINE_RETENTION_DAYS
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagePolicy {
    pub id: String,
    /// The account's channel (`messenger`, the default and for now the only one).
    #[serde(default)]
    pub channel: Channel,
    pub bot_app_id: String,
    pub inbox_app_id: String,
    #[serde(default = "default_reset_after_secs")]
    pub reset_after_secs: u64,
    #[serde(default)]
    pub reset_action: ResetAction,
    #[serde(default)]
    pub handover_payloads: Vec<String>,
    #[serde(default)]
    pub return_payloads: Vec<String>,
    #[serde(default)]
    pub handover_keywords: Vec<String>,
    #[serde(default)]
    pub auto_grant_requests: bool,
    #[serde(default)]
    pub messages: PageMessages,
    /// How long timeline entries are kept (DynamoDB TTL).
    #[serde(default = "default_timeline_retention_days")]
    pub timeline_retention_days: u64,
    /// A conversation record without activity for this long expires (DynamoDB TTL), so
    /// the queues (the "Done" list) do not grow forever.
    #[serde(default = "default_idle_expiry_days")]
    pub idle_expiry_days: u64,
    /// Events name the customer (`psid`) and the agent (`agent`); off by default: events
    /// then name the conversation by a random alias only.
    #[serde(default)]
    pub events_identify_people: bool,
    /// A hand-over to humans that no agent answered within this long is unclaimed
    /// (`conversation.unclaimed`); unset (the default): never.
    #[serde(default)]
    pub unclaimed_after_secs: Option<u64>,
    /// What an unclaimed hand-over does besides the event.
    #[serde(default)]
    pub unclaimed_action: UnclaimedAction,
    /// When agents are there (unset: always): outside them a hand-over still goes to the
    /// inbox, the customer gets `messages.out_of_hours`, and the unclaimed timer waits.
    #[serde(default)]
    pub opening_hours: Option<OpeningHoursConfig>,
    /// The calendar of `opening_hours`, built once when the document is loaded.
    #[serde(skip)]
    pub hours: Option<OpeningHours>,
    /// The Page's default app (Meta gives it idle threads; setup makes it the bot) when it
    /// is one of our apps; set when the document is loaded.
    #[serde(skip)]
    pub own_default_app: Option<String>,
}

/// What happens to a hand-over nobody answered in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnclaimedAction {
    /// Emit `conversation.unclaimed` once; the conversation stays with the humans.
    #[default]
    Notify,
    /// Emit it, then pass control back to the bot with the Page's `to_bot` message.
    ReturnToBot,
}

impl PagePolicy {
    /// The control window in seconds (validated to at most 7 days).
    pub fn reset_after(&self) -> i64 {
        i64::try_from(self.reset_after_secs.min(MAX_RESET_AFTER_SECS)).unwrap_or(i64::MAX / 2)
    }

    /// How long timeline entries are kept, in seconds.
    pub fn timeline_retention_secs(&self) -> i64 {
        i64::try_from(self.timeline_retention_days)
            .unwrap_or(3650)
            .saturating_mul(86_400)
    }

    /// How long a conversation record is kept without activity, in seconds.
    pub fn idle_expiry_secs(&self) -> i64 {
        i64::try_from(self.idle_expiry_days.min(MAX_IDLE_EXPIRY_DAYS))
            .unwrap_or(3650)
            .saturating_mul(86_400)
    }

    /// How long a hand-over may stay unanswered, in seconds (`None`: no limit).
    pub fn unclaimed_after(&self) -> Option<i64> {
        self.unclaimed_after_secs
            .map(|secs| i64::try_from(secs.min(MAX_RESET_AFTER_SECS)).unwrap_or(i64::MAX / 2))
    }

    /// What a hand-over means on this Page (`domain::note_write`).
    pub fn handover_policy(&self) -> HandoverPolicy<'_> {
        HandoverPolicy {
            unclaimed_after_secs: self.unclaimed_after(),
            hours: self.hours.as_ref(),
            out_of_hours_message: self.messages.out_of_hours.is_some(),
        }
    }

    /// The role an app plays on this Page.
    pub fn role_of(&self, app_id: &str) -> OwnerRole {
        if app_id == self.bot_app_id {
            OwnerRole::Bot
        } else if app_id == self.inbox_app_id {
            OwnerRole::Inbox
        } else if app_id == PAGE_INBOX_APP_ID {
            OwnerRole::PageInbox
        } else {
            OwnerRole::Other
        }
    }
}
