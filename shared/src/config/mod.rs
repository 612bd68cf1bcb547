//! The configuration document (docs/architecture.md, "Configuration"): the apps the
//! coordinator acts as, the Pages it routes, and the API tokens. Loaded once at start-up
//! from one of its two sources ([`ConfigSource`]: a file, a Secrets Manager secret) and
//! validated; an invalid document stops the function with a message naming the field.

mod api_token;
mod opening_hours;
mod parse_error;
mod source;
mod validate;

pub use api_token::{ApiToken, TokenScope};
pub use opening_hours::{ClosedDate, OpenInterval, OpeningHoursConfig, WeeklyHours, ZoneName};
pub use source::ConfigSource;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::{OwnerRole, PAGE_INBOX_APP_ID};
use crate::settings::{CONFIG_FILE_ENV, CONFIG_SECRET_ENV};

/// Longest control window a Page may configure: Meta's extend limit (7 days).
pub const MAX_RESET_AFTER_SECS: u64 = 7 * 24 * 3600;
/// Shortest API token accepted (guards against placeholder tokens).
pub const MIN_API_TOKEN_LEN: usize = 16;

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The role an app the coordinator acts as may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppRole {
    Bot,
    Inbox,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub id: String,
    pub role: AppRole,
    pub app_secret: Secret,
    pub verify_token: Secret,
    #[serde(default)]
    pub page_tokens: BTreeMap<String, Secret>,
}

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
pub struct PageConfig {
    pub id: String,
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
    pub hours: Option<crate::domain::OpeningHours>,
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

impl PageConfig {
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
    pub fn handover_policy(&self) -> crate::domain::HandoverPolicy<'_> {
        crate::domain::HandoverPolicy {
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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    pub apps: Vec<AppConfig>,
    pub pages: Vec<PageConfig>,
    /// A plain string (every Page, every action) or `{"token", "pages", "scope",
    /// "agent_name"}`.
    #[serde(default)]
    pub api_tokens: Vec<ApiToken>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "configuration: neither {CONFIG_SECRET_ENV} (the Secrets Manager secret, in AWS) nor {CONFIG_FILE_ENV} (a file, locally) is set"
    )]
    NotConfigured,
    #[error("configuration: {path}: {message}")]
    Parse { path: String, message: String },
    #[error("configuration: secret {id}: {message}")]
    Secret { id: String, message: String },
    #[error(
        "configuration: set only one of {CONFIG_FILE_ENV} (local) and {CONFIG_SECRET_ENV} (AWS)"
    )]
    BothSources,
    #[error("configuration: {field}: {message}")]
    Invalid { field: String, message: String },
}

impl CoordinatorConfig {
    /// Parse and validate a document; errors name the offending field.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let config: CoordinatorConfig = serde_path_to_error::deserialize(de).map_err(|err| {
            let (path, message) =
                parse_error::shown(&err.path().to_string(), &err.inner().to_string());
            ConfigError::Parse { path, message }
        })?;
        config.validate()?;
        let mut config = config;
        for page in &mut config.pages {
            page.hours = page
                .opening_hours
                .as_ref()
                .map(OpeningHoursConfig::calendar);
        }
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    pub fn app(&self, app_id: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|app| app.id == app_id)
    }

    pub fn page(&self, page_id: &str) -> Option<&PageConfig> {
        self.pages.iter().find(|page| page.id == page_id)
    }

    /// One of our apps with its token for `page_id`: the coordinator can act as it there.
    pub fn app_with_token(&self, app_id: &str, page_id: &str) -> Option<(&AppConfig, &Secret)> {
        let app = self.app(app_id)?;
        Some((app, app.page_tokens.get(page_id)?))
    }
}
