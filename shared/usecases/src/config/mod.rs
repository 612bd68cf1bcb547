//! The configuration document (docs/architecture.md, "Configuration"): the apps the
//! coordinator acts as, the Pages it routes (each a [`PagePolicy`] of the domain), and the
//! API tokens. Parsed and validated once per container from the text one of its sources
//! gives (the adapters' `config_source`: a file, a Secrets Manager secret); an invalid
//! document stops the function with a message naming the field.

mod api_token;
mod parse_error;
mod validate;

pub use crate::ports::Secret;
pub use api_token::{ApiToken, TokenScope};
pub use routing_domain::policy::{
    ClosedDate, OpenInterval, OpeningHoursConfig, PageMessages, PagePolicy, ResetAction,
    UnclaimedAction, WeeklyHours, ZoneName, DEFAULT_IDLE_EXPIRY_DAYS,
    DEFAULT_TIMELINE_RETENTION_DAYS, MAX_IDLE_EXPIRY_DAYS, MAX_RESET_AFTER_SECS,
    MIN_IDLE_EXPIRY_DAYS,
};

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Shortest API token accepted (guards against placeholder tokens).
pub const MIN_API_TOKEN_LEN: usize = 16;

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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    pub apps: Vec<AppConfig>,
    pub pages: Vec<PagePolicy>,
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
    #[error("configuration: {path}: {message}")]
    Parse { path: String, message: String },
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
        let ours: Vec<String> = config.apps.iter().map(|app| app.id.clone()).collect();
        for page in &mut config.pages {
            page.hours = page
                .opening_hours
                .as_ref()
                .map(OpeningHoursConfig::calendar);
            page.own_default_app = ours.iter().find(|id| **id == page.bot_app_id).cloned();
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

    pub fn page(&self, page_id: &str) -> Option<&PagePolicy> {
        self.pages.iter().find(|page| page.id == page_id)
    }

    /// One of our apps with its token for `page_id`: the coordinator can act as it there.
    pub fn app_with_token(&self, app_id: &str, page_id: &str) -> Option<(&AppConfig, &Secret)> {
        let app = self.app(app_id)?;
        Some((app, app.page_tokens.get(page_id)?))
    }
}
