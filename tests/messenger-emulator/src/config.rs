//! The emulator's configuration document (JSON) and its validation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::PAGE_INBOX_APP_ID;

/// Errors found while loading or validating an [`EmulatorConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The document is not valid JSON or does not have the expected shape.
    #[error("invalid configuration document: {0}")]
    Parse(#[from] serde_json::Error),
    /// A field has a value the emulator cannot use.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid {
        /// Path of the offending field, e.g. `pages[0].apps[1].page_token`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole configuration: the Graph API version served, the Pages and their apps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// The only Graph API version accepted in paths, e.g. `v23.0`.
    #[serde(default = "default_graph_version")]
    pub graph_version: String,
    /// The Pages served.
    pub pages: Vec<PageConfig>,
    /// Webhook delivery settings.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// When true, app ids inside webhook events (echo `app_id`, handover events) are JSON
    /// numbers, as some real Meta events have them; by default they are strings.
    #[serde(default)]
    pub numeric_app_ids: bool,
}

/// One Facebook Page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    /// The Page id.
    pub id: String,
    /// The Page's default application: it gets control of idle threads. May be Meta's
    /// Page Inbox (`263902037430900`).
    pub default_app_id: String,
    /// The apps installed on the Page (Meta's Page Inbox is always connected implicitly).
    pub apps: Vec<AppConfig>,
    /// The Page's buttons (postbacks the customer can tap on the chat page,
    /// `/_emulator/chat`), e.g. "Talk to human" with payload `TALK_TO_HUMAN`.
    #[serde(default)]
    pub buttons: Vec<PageButton>,
}

/// A button of the Page's conversation: tapping it sends a postback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PageButton {
    /// What the button shows (the postback's `title`).
    pub title: String,
    /// The postback's `payload`.
    pub payload: String,
}

/// One app installed on a Page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The app id.
    pub id: String,
    /// A human-readable name (for logs and inspection only).
    #[serde(default)]
    pub name: String,
    /// The app secret used to sign webhook bodies.
    pub app_secret: String,
    /// The Page access token this app uses on this Page.
    pub page_token: String,
    /// Where webhooks for this app are POSTed; without it the app receives nothing.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The verify token used by `POST /_emulator/webhooks/verify` (optional).
    #[serde(default)]
    pub verify_token: Option<String>,
    /// The "Take control of conversations" permission (default false).
    #[serde(default)]
    pub take_control: bool,
    /// The "Access standby channel" permission (default true).
    #[serde(default = "default_true")]
    pub standby: bool,
    /// Whether the app has a role in the Page's conversation routing (default true). An app
    /// with a token but no role gets error 2018171 from every thread-control and Send API
    /// call and receives no webhooks.
    #[serde(default = "default_true")]
    pub connected: bool,
}

impl AppConfig {
    /// Whether the app receives webhooks: it has a role and a webhook URL.
    pub(crate) fn subscribed(&self) -> bool {
        self.connected && self.webhook_url.is_some()
    }
}

/// Webhook delivery settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts per delivery, including the first (default 4).
    pub max_attempts: u32,
    /// Backoff before the second attempt in ms; doubles for each further attempt (default 100).
    pub backoff_ms: u64,
    /// Timeout of one delivery attempt in ms (default 10000).
    pub timeout_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff_ms: 100,
            timeout_ms: 10_000,
        }
    }
}

fn default_graph_version() -> String {
    "v23.0".to_owned()
}

fn default_true() -> bool {
    true
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl EmulatorConfig {
    /// Parses a JSON document and validates it.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a JSON configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text)
    }

    /// Checks the document: version syntax, unique ids and tokens, known default apps.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let version_ok = self
            .graph_version
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major.chars().all(|c| c.is_ascii_digit())
                    && minor.chars().all(|c| c.is_ascii_digit())
            });
        if !version_ok {
            return Err(invalid("graph_version", "must look like v23.0"));
        }
        if self.pages.is_empty() {
            return Err(invalid("pages", "at least one page is required"));
        }
        if self.delivery.max_attempts == 0 {
            return Err(invalid("delivery.max_attempts", "must be at least 1"));
        }
        if self.delivery.timeout_ms == 0 {
            return Err(invalid("delivery.timeout_ms", "must be positive"));
        }
        let mut page_ids = HashSet::new();
        let mut tokens = HashSet::new();
        for (p, page) in self.pages.iter().enumerate() {
            if page.id.is_empty() || page.id == "me" {
                return Err(invalid(format!("pages[{p}].id"), "must be a page id"));
            }
            if !page_ids.insert(page.id.as_str()) {
                return Err(invalid(format!("pages[{p}].id"), "duplicate page id"));
            }
            let mut app_ids = HashSet::new();
            for (a, app) in page.apps.iter().enumerate() {
                let field = |name: &str| format!("pages[{p}].apps[{a}].{name}");
                if app.id.is_empty() {
                    return Err(invalid(field("id"), "must not be empty"));
                }
                if app.id == PAGE_INBOX_APP_ID {
                    return Err(invalid(
                        field("id"),
                        "Meta's Page Inbox (263902037430900) is always connected; do not list it",
                    ));
                }
                if !app_ids.insert(app.id.as_str()) {
                    return Err(invalid(field("id"), "duplicate app id on this page"));
                }
                if app.page_token.is_empty() {
                    return Err(invalid(field("page_token"), "must not be empty"));
                }
                if !tokens.insert(app.page_token.as_str()) {
                    return Err(invalid(
                        field("page_token"),
                        "token already used by another app or page",
                    ));
                }
                if app.app_secret.is_empty() {
                    return Err(invalid(field("app_secret"), "must not be empty"));
                }
                if let Some(url) = &app.webhook_url {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(field("webhook_url"), "must be an http(s) URL"));
                    }
                }
            }
            for (b, button) in page.buttons.iter().enumerate() {
                let field = |name: &str| format!("pages[{p}].buttons[{b}].{name}");
                if button.title.trim().is_empty() {
                    return Err(invalid(field("title"), "must not be empty"));
                }
                if button.payload.trim().is_empty() {
                    return Err(invalid(field("payload"), "must not be empty"));
                }
            }
            let default_ok = page.default_app_id == PAGE_INBOX_APP_ID
                || page
                    .apps
                    .iter()
                    .any(|app| app.id == page.default_app_id && app.connected);
            if !default_ok {
                return Err(invalid(
                    format!("pages[{p}].default_app_id"),
                    "must be a connected app of this page or 263902037430900",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"graph_version":"v23.0","pages":[{"id":"PAGE1","default_app_id":"1001",
        "apps":[{"id":"1001","name":"bot","app_secret":"s1","page_token":"tok-bot"},
                {"id":"2002","app_secret":"s2","page_token":"tok-inbox","take_control":true}]}]}"#;

    #[test]
    fn parses_and_applies_defaults() {
        let config = EmulatorConfig::from_json_str(DOC).expect("valid");
        let inbox = &config.pages[0].apps[1];
        assert!(inbox.take_control && inbox.standby && inbox.connected);
        assert!(!config.pages[0].apps[0].take_control);
        assert_eq!(config.delivery, DeliveryConfig::default());
    }

    #[test]
    fn names_the_bad_field() {
        let doc = DOC.replace("\"tok-inbox\"", "\"tok-bot\"");
        let err = EmulatorConfig::from_json_str(&doc).expect_err("duplicate token");
        assert!(
            err.to_string().contains("pages[0].apps[1].page_token"),
            "{err}"
        );
        let doc = DOC.replace("\"default_app_id\":\"1001\"", "\"default_app_id\":\"9\"");
        let err = EmulatorConfig::from_json_str(&doc).expect_err("unknown default");
        assert!(err.to_string().contains("pages[0].default_app_id"), "{err}");
        let doc = DOC.replace("v23.0", "23");
        assert!(EmulatorConfig::from_json_str(&doc).is_err());
        let doc = DOC.replace("\"name\":\"bot\"", "\"nmae\":\"bot\"");
        assert!(EmulatorConfig::from_json_str(&doc).is_err());
    }
}
