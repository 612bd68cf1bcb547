//! The configuration document (DESIGN §5): the apps the coordinator acts as, the Pages it
//! routes, and the API tokens. Loaded once at start-up and validated; an invalid document
//! stops the function with a message naming the field.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::{OwnerRole, PAGE_INBOX_APP_ID};

/// Environment variable naming the local configuration file.
pub const CONFIG_FILE_ENV: &str = "COORDINATOR_CONFIG_FILE";
/// Environment variable naming the AWS Secrets Manager secret (ARN or name) that holds
/// the configuration document in AWS.
pub const CONFIG_SECRET_ENV: &str = "COORDINATOR_CONFIG_SECRET_ID";

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
}

fn default_reset_after_secs() -> u64 {
    24 * 3600
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
    #[serde(default)]
    pub api_tokens: Vec<Secret>,
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

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Where the configuration document comes from: a Secrets Manager secret in AWS
/// (`COORDINATOR_CONFIG_SECRET_ID`), a file locally (`COORDINATOR_CONFIG_FILE`). Both are
/// read as text and then parsed and validated the same way, once per container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Secret(String),
}

impl ConfigSource {
    /// The source the environment names.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self::from_vars(var(CONFIG_FILE_ENV), var(CONFIG_SECRET_ENV))
    }

    pub fn from_vars(file: Option<String>, secret: Option<String>) -> Result<Self, ConfigError> {
        match (file, secret) {
            (Some(_), Some(_)) => Err(ConfigError::BothSources),
            (Some(path), None) => Ok(ConfigSource::File(PathBuf::from(path))),
            (None, Some(id)) => Ok(ConfigSource::Secret(id)),
            (None, None) => Err(ConfigError::NotConfigured),
        }
    }

    /// Read, parse and validate the document (`secrets` is used only for a secret).
    pub async fn load(
        &self,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<CoordinatorConfig, ConfigError> {
        match self {
            ConfigSource::File(path) => CoordinatorConfig::from_file(path),
            ConfigSource::Secret(id) => {
                let secret = |message: String| ConfigError::Secret {
                    id: id.clone(),
                    message,
                };
                let answer = secrets
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|err| {
                        secret(format!(
                            "cannot read it: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&err)
                        ))
                    })?;
                let text = answer.secret_string().ok_or_else(|| {
                    secret("it has no SecretString: put the configuration JSON as text".into())
                })?;
                CoordinatorConfig::from_json(text).map_err(|err| secret(err.to_string()))
            }
        }
    }
}

impl CoordinatorConfig {
    /// Parse and validate a document; errors name the offending field.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let config: CoordinatorConfig =
            serde_path_to_error::deserialize(de).map_err(|err| ConfigError::Parse {
                path: err.path().to_string(),
                message: err.inner().to_string(),
            })?;
        config.validate()?;
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

    /// Every rule the document must satisfy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.apps.is_empty() {
            return Err(invalid("apps", "at least one app is required"));
        }
        let mut app_ids = HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            let at = |field: &str| format!("apps[{i}].{field}");
            require_id(&at("id"), &app.id)?;
            if app.id == PAGE_INBOX_APP_ID {
                return Err(invalid(
                    at("id"),
                    "263902037430900 is Meta's Page Inbox; the coordinator cannot act as it",
                ));
            }
            if !app_ids.insert(app.id.as_str()) {
                return Err(invalid(at("id"), format!("duplicate app id {:?}", app.id)));
            }
            if app.app_secret.expose().is_empty() {
                return Err(invalid(at("app_secret"), "must not be empty"));
            }
            if app.verify_token.expose().is_empty() {
                return Err(invalid(at("verify_token"), "must not be empty"));
            }
            for (page_id, token) in &app.page_tokens {
                if self.page(page_id).is_none() {
                    return Err(invalid(
                        format!("apps[{i}].page_tokens.{page_id}"),
                        "no page with this id in pages",
                    ));
                }
                if token.expose().is_empty() {
                    return Err(invalid(
                        format!("apps[{i}].page_tokens.{page_id}"),
                        "must not be empty",
                    ));
                }
            }
        }

        if self.pages.is_empty() {
            return Err(invalid("pages", "at least one page is required"));
        }
        let mut page_ids = HashSet::new();
        for (i, page) in self.pages.iter().enumerate() {
            let at = |field: &str| format!("pages[{i}].{field}");
            require_id(&at("id"), &page.id)?;
            if !page_ids.insert(page.id.as_str()) {
                return Err(invalid(
                    at("id"),
                    format!("duplicate page id {:?}", page.id),
                ));
            }
            require_id(&at("bot_app_id"), &page.bot_app_id)?;
            require_id(&at("inbox_app_id"), &page.inbox_app_id)?;
            if page.bot_app_id == page.inbox_app_id {
                return Err(invalid(at("inbox_app_id"), "must differ from bot_app_id"));
            }
            let inbox = self.app(&page.inbox_app_id).ok_or_else(|| {
                invalid(
                    at("inbox_app_id"),
                    format!("app {:?} is not one of apps", page.inbox_app_id),
                )
            })?;
            if inbox.role != AppRole::Inbox {
                return Err(invalid(
                    at("inbox_app_id"),
                    format!("app {:?} has role bot, not inbox", page.inbox_app_id),
                ));
            }
            if !inbox.page_tokens.contains_key(&page.id) {
                return Err(invalid(
                    at("inbox_app_id"),
                    format!(
                        "app {:?} has no page_tokens entry for page {:?}",
                        page.inbox_app_id, page.id
                    ),
                ));
            }
            if let Some(bot) = self.app(&page.bot_app_id) {
                if bot.role != AppRole::Bot {
                    return Err(invalid(
                        at("bot_app_id"),
                        format!("app {:?} has role inbox, not bot", page.bot_app_id),
                    ));
                }
            }
            if page.reset_after_secs == 0 || page.reset_after_secs > MAX_RESET_AFTER_SECS {
                return Err(invalid(
                    at("reset_after_secs"),
                    format!("must be between 1 and {MAX_RESET_AFTER_SECS} (7 days)"),
                ));
            }
            if page.timeline_retention_days == 0 {
                return Err(invalid(at("timeline_retention_days"), "must be at least 1"));
            }
            for (name, list) in [
                ("handover_payloads", &page.handover_payloads),
                ("return_payloads", &page.return_payloads),
                ("handover_keywords", &page.handover_keywords),
            ] {
                if let Some(j) = list.iter().position(|v| v.trim().is_empty()) {
                    return Err(invalid(
                        format!("pages[{i}].{name}[{j}]"),
                        "must not be empty",
                    ));
                }
            }
            if let Some(both) = page
                .handover_payloads
                .iter()
                .find(|p| page.return_payloads.contains(p))
            {
                return Err(invalid(
                    at("return_payloads"),
                    format!("payload {both:?} is also a handover payload"),
                ));
            }
        }

        let mut tokens = HashSet::new();
        for (i, token) in self.api_tokens.iter().enumerate() {
            if token.expose().len() < MIN_API_TOKEN_LEN {
                return Err(invalid(
                    format!("api_tokens[{i}]"),
                    format!("must be at least {MIN_API_TOKEN_LEN} characters"),
                ));
            }
            if !tokens.insert(token.expose()) {
                return Err(invalid(format!("api_tokens[{i}]"), "duplicate token"));
            }
        }
        Ok(())
    }
}

/// Ids are Meta's numeric ids, carried as strings.
fn require_id(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if !value.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            field,
            format!("{value:?} is not a numeric Meta id"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn valid() -> Value {
        json!({
            "apps": [
                {"id": "1001", "role": "bot", "app_secret": "bot-secret", "verify_token": "bot-verify",
                 "page_tokens": {"111": "bot-page-token"}},
                {"id": "2002", "role": "inbox", "app_secret": "inbox-secret", "verify_token": "inbox-verify",
                 "page_tokens": {"111": "inbox-page-token"}}
            ],
            "pages": [
                {"id": "111", "bot_app_id": "1001", "inbox_app_id": "2002",
                 "reset_after_secs": 86400, "reset_action": "release",
                 "handover_payloads": ["TALK_TO_HUMAN"], "return_payloads": ["BACK_TO_BOT"],
                 "handover_keywords": ["human", "agent"], "auto_grant_requests": true,
                 "messages": {"to_human": "You're now chatting with a person.", "to_bot": "You're back with the bot."}}
            ],
            "api_tokens": ["0123456789abcdef-token"]
        })
    }

    fn error_of(doc: Value) -> String {
        CoordinatorConfig::from_json(&doc.to_string())
            .expect_err("document should be rejected")
            .to_string()
    }

    fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
        *doc.pointer_mut(pointer).expect("pointer exists") = value;
        doc
    }

    #[test]
    fn the_design_example_is_valid_and_applies_defaults() {
        let mut doc = valid();
        doc["pages"][0]
            .as_object_mut()
            .unwrap()
            .remove("reset_after_secs");
        doc["pages"][0]
            .as_object_mut()
            .unwrap()
            .remove("reset_action");
        let config = CoordinatorConfig::from_json(&doc.to_string()).unwrap();
        let page = config.page("111").unwrap();
        assert_eq!(page.reset_after_secs, 86_400);
        assert_eq!(page.reset_action, ResetAction::Release);
        assert_eq!(page.timeline_retention_days, 90);
        assert_eq!(page.role_of("1001"), OwnerRole::Bot);
        assert_eq!(page.role_of("2002"), OwnerRole::Inbox);
        assert_eq!(page.role_of(PAGE_INBOX_APP_ID), OwnerRole::PageInbox);
        assert_eq!(page.role_of("999"), OwnerRole::Other);
    }

    #[test]
    fn a_bot_that_is_not_one_of_our_apps_is_allowed() {
        let doc = with(valid(), "/pages/0/bot_app_id", json!("5005"));
        assert!(CoordinatorConfig::from_json(&doc.to_string()).is_ok());
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let config = CoordinatorConfig::from_json(&valid().to_string()).unwrap();
        let printed = format!("{config:?}");
        for secret in [
            "bot-secret",
            "inbox-verify",
            "inbox-page-token",
            "0123456789abcdef",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked into {printed}");
        }
    }

    #[test]
    fn unknown_role_names_the_field() {
        let err = error_of(with(valid(), "/apps/1/role", json!("agent")));
        assert!(err.contains("apps[1].role"), "{err}");
        assert!(err.contains("agent"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let mut doc = valid();
        doc["pages"][0]["reset_afer_secs"] = json!(5);
        let err = error_of(doc);
        assert!(err.contains("reset_afer_secs"), "{err}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let mut doc = valid();
        doc["apps"][0].as_object_mut().unwrap().remove("app_secret");
        let err = error_of(doc);
        assert!(err.contains("app_secret"), "{err}");
    }

    #[test]
    fn unknown_reset_action_is_named() {
        let err = error_of(with(valid(), "/pages/0/reset_action", json!("explode")));
        assert!(err.contains("pages[0].reset_action"), "{err}");
    }

    #[test]
    fn duplicate_app_ids_are_rejected() {
        let err = error_of(with(valid(), "/apps/1/id", json!("1001")));
        assert!(
            err.contains("apps[1].id") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_page_ids_are_rejected() {
        let mut doc = valid();
        let page = doc["pages"][0].clone();
        doc["pages"].as_array_mut().unwrap().push(page);
        let err = error_of(doc);
        assert!(
            err.contains("pages[1].id") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn page_without_a_known_inbox_is_rejected() {
        let err = error_of(with(valid(), "/pages/0/inbox_app_id", json!("7007")));
        assert!(err.contains("pages[0].inbox_app_id"), "{err}");
        assert!(err.contains("not one of apps"), "{err}");
    }

    #[test]
    fn inbox_app_must_have_inbox_role() {
        let doc = with(valid(), "/pages/0/inbox_app_id", json!("1001"));
        let doc = with(doc, "/pages/0/bot_app_id", json!("2002"));
        let err = error_of(doc);
        assert!(
            err.contains("pages[0].inbox_app_id") && err.contains("role bot"),
            "{err}"
        );
    }

    #[test]
    fn our_bot_app_must_have_bot_role() {
        let mut doc = valid();
        doc["apps"][0]["role"] = json!("inbox");
        let err = error_of(doc);
        assert!(
            err.contains("pages[0].bot_app_id") && err.contains("role inbox"),
            "{err}"
        );
    }

    #[test]
    fn inbox_app_needs_a_token_for_the_page() {
        let mut doc = valid();
        doc["apps"][1]["page_tokens"] = json!({});
        let err = error_of(doc);
        assert!(
            err.contains("pages[0].inbox_app_id") && err.contains("page_tokens"),
            "{err}"
        );
    }

    #[test]
    fn same_app_for_bot_and_inbox_is_rejected() {
        let err = error_of(with(valid(), "/pages/0/bot_app_id", json!("2002")));
        assert!(err.contains("must differ"), "{err}");
    }

    #[test]
    fn ids_must_be_numeric_and_non_empty() {
        let err = error_of(with(valid(), "/apps/0/id", json!("")));
        assert!(err.contains("apps[0].id") && err.contains("empty"), "{err}");
        let err = error_of(with(valid(), "/pages/0/bot_app_id", json!("my-bot")));
        assert!(
            err.contains("pages[0].bot_app_id") && err.contains("numeric"),
            "{err}"
        );
    }

    #[test]
    fn the_page_inbox_app_cannot_be_one_of_ours() {
        let err = error_of(with(valid(), "/apps/0/id", json!(PAGE_INBOX_APP_ID)));
        assert!(
            err.contains("apps[0].id") && err.contains("Page Inbox"),
            "{err}"
        );
    }

    #[test]
    fn empty_secrets_are_rejected() {
        let err = error_of(with(valid(), "/apps/0/app_secret", json!("")));
        assert!(err.contains("apps[0].app_secret"), "{err}");
        let err = error_of(with(valid(), "/apps/1/verify_token", json!("")));
        assert!(err.contains("apps[1].verify_token"), "{err}");
        let err = error_of(with(valid(), "/apps/1/page_tokens/111", json!("")));
        assert!(err.contains("apps[1].page_tokens.111"), "{err}");
    }

    #[test]
    fn tokens_for_unknown_pages_are_rejected() {
        let err = error_of(with(valid(), "/apps/0/page_tokens", json!({"999": "t"})));
        assert!(err.contains("apps[0].page_tokens.999"), "{err}");
    }

    #[test]
    fn reset_window_is_bounded() {
        let err = error_of(with(valid(), "/pages/0/reset_after_secs", json!(0)));
        assert!(err.contains("pages[0].reset_after_secs"), "{err}");
        let err = error_of(with(valid(), "/pages/0/reset_after_secs", json!(604_801)));
        assert!(err.contains("pages[0].reset_after_secs"), "{err}");
        let err = error_of(with(valid(), "/pages/0/reset_after_secs", json!(-5)));
        assert!(err.contains("pages[0].reset_after_secs"), "{err}");
    }

    #[test]
    fn retention_must_be_positive() {
        let mut doc = valid();
        doc["pages"][0]["timeline_retention_days"] = json!(0);
        let err = error_of(doc);
        assert!(err.contains("pages[0].timeline_retention_days"), "{err}");
    }

    #[test]
    fn empty_payloads_and_keywords_are_rejected() {
        let err = error_of(with(
            valid(),
            "/pages/0/handover_keywords",
            json!(["human", " "]),
        ));
        assert!(err.contains("pages[0].handover_keywords[1]"), "{err}");
        let err = error_of(with(valid(), "/pages/0/return_payloads", json!([""])));
        assert!(err.contains("pages[0].return_payloads[0]"), "{err}");
    }

    #[test]
    fn a_payload_cannot_both_hand_over_and_return() {
        let err = error_of(with(
            valid(),
            "/pages/0/return_payloads",
            json!(["TALK_TO_HUMAN"]),
        ));
        assert!(
            err.contains("pages[0].return_payloads") && err.contains("TALK_TO_HUMAN"),
            "{err}"
        );
    }

    #[test]
    fn api_tokens_must_be_long_and_distinct() {
        let err = error_of(with(valid(), "/api_tokens", json!(["short"])));
        assert!(err.contains("api_tokens[0]") && err.contains("16"), "{err}");
        let err = error_of(with(
            valid(),
            "/api_tokens",
            json!(["0123456789abcdef-token", "0123456789abcdef-token"]),
        ));
        assert!(
            err.contains("api_tokens[1]") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn no_apps_or_pages_is_rejected() {
        assert!(error_of(with(valid(), "/apps", json!([]))).contains("apps"));
        let err = error_of(with(valid(), "/pages", json!([])));
        assert!(
            err.contains("apps[0].page_tokens.111") || err.contains("pages"),
            "{err}"
        );
    }

    #[test]
    fn not_json_is_a_parse_error() {
        let err = CoordinatorConfig::from_json("{ nope")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("configuration:"), "{err}");
    }

    #[test]
    fn missing_file_is_named() {
        let err = CoordinatorConfig::from_file(Path::new("/nonexistent/coordinator.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/coordinator.json"), "{err}");
    }
}
