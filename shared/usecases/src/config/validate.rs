//! Every rule the configuration document must satisfy; each error names its field.

use std::collections::HashSet;

use super::{AppConfig, AppRole, ConfigError, CoordinatorConfig, PagePolicy};
use super::{MAX_IDLE_EXPIRY_DAYS, MAX_RESET_AFTER_SECS, MIN_API_TOKEN_LEN, MIN_IDLE_EXPIRY_DAYS};

/// Shortest `unclaimed_after_secs`: the sweep that finds unclaimed hand-overs runs every
/// minute.
const MIN_UNCLAIMED_AFTER_SECS: u64 = 60;
/// Longest `agent_name` of a scoped API token.
const MAX_AGENT_NAME_CHARS: usize = 100;
use routing_domain::PAGE_INBOX_APP_ID;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl CoordinatorConfig {
    /// Every rule the document must satisfy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.apps.is_empty() {
            return Err(invalid("apps", "at least one app is required"));
        }
        let mut app_ids = HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            if !app_ids.insert(app.id.as_str()) {
                require_id(&format!("apps[{i}].id"), &app.id)?;
                return Err(invalid(
                    format!("apps[{i}].id"),
                    format!("duplicate app id {:?}", app.id),
                ));
            }
            self.validate_app(i, app)?;
        }
        if self.pages.is_empty() {
            return Err(invalid("pages", "at least one page is required"));
        }
        let mut page_ids = HashSet::new();
        for (i, page) in self.pages.iter().enumerate() {
            require_id(&format!("pages[{i}].id"), &page.id)?;
            if !page_ids.insert(page.id.as_str()) {
                return Err(invalid(
                    format!("pages[{i}].id"),
                    format!("duplicate page id {:?}", page.id),
                ));
            }
            self.validate_page_apps(i, page)?;
            validate_page_rules(i, page)?;
        }
        self.validate_api_tokens()
    }

    fn validate_app(&self, i: usize, app: &AppConfig) -> Result<(), ConfigError> {
        let at = |field: &str| format!("apps[{i}].{field}");
        require_id(&at("id"), &app.id)?;
        if app.id == PAGE_INBOX_APP_ID {
            return Err(invalid(
                at("id"),
                "263902037430900 is Meta's Page Inbox; the coordinator cannot act as it",
            ));
        }
        if app.app_secret.expose().is_empty() {
            return Err(invalid(at("app_secret"), "must not be empty"));
        }
        if app.verify_token.expose().is_empty() {
            return Err(invalid(at("verify_token"), "must not be empty"));
        }
        for (page_id, token) in &app.page_tokens {
            if !page_id.chars().all(|c| c.is_ascii_digit()) {
                // Never echoed: it may be a token pasted as a key.
                return Err(invalid(at("page_tokens"), "a key is not a numeric page id"));
            }
            let field = format!("apps[{i}].page_tokens.{page_id}");
            if self.page(page_id).is_none() {
                return Err(invalid(field, "no page with this id in pages"));
            }
            if token.expose().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        Ok(())
    }

    /// The Page's bot and inbox: two different apps, the inbox one of ours with the inbox
    /// role and a token for the Page; the bot, when it is one of ours, with the bot role.
    fn validate_page_apps(&self, i: usize, page: &PagePolicy) -> Result<(), ConfigError> {
        let at = |field: &str| format!("pages[{i}].{field}");
        require_id(&at("bot_app_id"), &page.bot_app_id)?;
        require_id(&at("inbox_app_id"), &page.inbox_app_id)?;
        if page.bot_app_id == page.inbox_app_id {
            return Err(invalid(at("inbox_app_id"), "must differ from bot_app_id"));
        }
        let inbox_id = &page.inbox_app_id;
        let inbox = self.app(inbox_id).ok_or_else(|| {
            invalid(
                at("inbox_app_id"),
                format!("app {inbox_id:?} is not one of apps"),
            )
        })?;
        if inbox.role != AppRole::Inbox {
            return Err(invalid(
                at("inbox_app_id"),
                format!("app {inbox_id:?} has role bot, not inbox"),
            ));
        }
        if !inbox.page_tokens.contains_key(&page.id) {
            return Err(invalid(
                at("inbox_app_id"),
                format!(
                    "app {inbox_id:?} has no page_tokens entry for page {:?}",
                    page.id
                ),
            ));
        }
        match self.app(&page.bot_app_id) {
            Some(bot) if bot.role != AppRole::Bot => Err(invalid(
                at("bot_app_id"),
                format!("app {:?} has role inbox, not bot", page.bot_app_id),
            )),
            _ => Ok(()),
        }
    }

    /// Tokens long and distinct; a scoped token's Pages configured, its agent named. No
    /// message shows a token.
    fn validate_api_tokens(&self) -> Result<(), ConfigError> {
        let mut tokens = HashSet::new();
        for (i, entry) in self.api_tokens.iter().enumerate() {
            let at = |field: &str| format!("api_tokens[{i}]{field}");
            let token = entry.token.expose();
            if token.len() < MIN_API_TOKEN_LEN {
                return Err(invalid(
                    at(""),
                    format!("must be at least {MIN_API_TOKEN_LEN} characters"),
                ));
            }
            if !tokens.insert(token) {
                return Err(invalid(at(""), "duplicate token"));
            }
            if let Some(pages) = &entry.pages {
                if pages.is_empty() {
                    return Err(invalid(
                        at(".pages"),
                        "must name at least one page (omit it for every page)",
                    ));
                }
                if let Some(j) = pages.iter().position(|p| self.page(p).is_none()) {
                    return Err(invalid(
                        at(&format!(".pages[{j}]")),
                        "no page with this id in pages",
                    ));
                }
            }
            if let Some(name) = &entry.agent_name {
                if name.trim().is_empty() || name.chars().count() > MAX_AGENT_NAME_CHARS {
                    return Err(invalid(
                        at(".agent_name"),
                        format!("must be 1 to {MAX_AGENT_NAME_CHARS} characters"),
                    ));
                }
                if name.chars().any(char::is_control) {
                    return Err(invalid(at(".agent_name"), "no control characters"));
                }
            }
        }
        Ok(())
    }
}

/// The Page's window, retention, payloads and keywords.
fn validate_page_rules(i: usize, page: &PagePolicy) -> Result<(), ConfigError> {
    validate_page_times(i, page)?;
    validate_page_triggers(i, page)
}

/// A Page's windows, retention, opening hours and out-of-hours message.
fn validate_page_times(i: usize, page: &PagePolicy) -> Result<(), ConfigError> {
    let at = |field: &str| format!("pages[{i}].{field}");
    if page.reset_after_secs == 0 || page.reset_after_secs > MAX_RESET_AFTER_SECS {
        return Err(invalid(
            at("reset_after_secs"),
            format!("must be between 1 and {MAX_RESET_AFTER_SECS} (7 days)"),
        ));
    }
    if page.timeline_retention_days == 0 {
        return Err(invalid(at("timeline_retention_days"), "must be at least 1"));
    }
    check_idle_expiry(&at("idle_expiry_days"), page.idle_expiry_days)?;
    if let Some(day) = page
        .opening_hours
        .as_ref()
        .and_then(|h| h.overlapping_day())
    {
        return Err(invalid(
            at(&format!("opening_hours.weekly.{day}")),
            "intervals overlap",
        ));
    }
    if page
        .messages
        .out_of_hours
        .as_ref()
        .is_some_and(|m| m.trim().is_empty())
    {
        return Err(invalid(at("messages.out_of_hours"), "must not be empty"));
    }
    if let Some(secs) = page.unclaimed_after_secs {
        if !(MIN_UNCLAIMED_AFTER_SECS..=MAX_RESET_AFTER_SECS).contains(&secs) {
            return Err(invalid(
                at("unclaimed_after_secs"),
                format!(
                    "must be between {MIN_UNCLAIMED_AFTER_SECS} and {MAX_RESET_AFTER_SECS} (7 days)"
                ),
            ));
        }
    }
    Ok(())
}

/// A Page's handover and return payloads and keywords.
fn validate_page_triggers(i: usize, page: &PagePolicy) -> Result<(), ConfigError> {
    let at = |field: &str| format!("pages[{i}].{field}");
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
    match page
        .handover_payloads
        .iter()
        .find(|p| page.return_payloads.contains(p))
    {
        Some(both) => Err(invalid(
            at("return_payloads"),
            format!("payload {both:?} is also a handover payload"),
        )),
        None => Ok(()),
    }
}

/// Ids are Meta's numeric ids, carried as strings.
/// `idle_expiry_days` lies within its bounds.
fn check_idle_expiry(field: &str, days: u64) -> Result<(), ConfigError> {
    if (MIN_IDLE_EXPIRY_DAYS..=MAX_IDLE_EXPIRY_DAYS).contains(&days) {
        return Ok(());
    }
    Err(invalid(
        field,
        format!("must be between {MIN_IDLE_EXPIRY_DAYS} and {MAX_IDLE_EXPIRY_DAYS} days"),
    ))
}

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
    use crate::config::ResetAction;
    use routing_domain::OwnerRole;
    use serde_json::{json, Value};
    use std::path::Path;

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
    fn unclaimed_settings_default_off_and_are_bounded() {
        let config = CoordinatorConfig::from_json(&valid().to_string()).unwrap();
        assert_eq!(config.pages[0].unclaimed_after_secs, None);
        assert_eq!(
            config.pages[0].unclaimed_action,
            super::super::UnclaimedAction::Notify
        );
        let page = |field: &str, value: Value| {
            let mut doc = valid();
            doc["pages"][0][field] = value;
            doc
        };
        for bad in [json!(59), json!(604_801), json!(-1)] {
            let err = error_of(page("unclaimed_after_secs", bad));
            assert!(err.contains("pages[0].unclaimed_after_secs"), "{err}");
        }
        let err = error_of(page("unclaimed_action", json!("escalate")));
        assert!(err.contains("pages[0].unclaimed_action"), "{err}");
        let mut doc = page("unclaimed_after_secs", json!(900));
        doc["pages"][0]["unclaimed_action"] = json!("return_to_bot");
        let config = CoordinatorConfig::from_json(&doc.to_string()).unwrap();
        assert_eq!(config.pages[0].unclaimed_after(), Some(900));
        assert_eq!(
            config.pages[0].unclaimed_action,
            super::super::UnclaimedAction::ReturnToBot
        );
    }

    #[test]
    fn opening_hours_errors_name_the_field() {
        let hours = |value: Value| {
            let mut doc = valid();
            doc["pages"][0]["opening_hours"] = value;
            doc
        };
        let cases = [
            (
                json!({"time_zone": "Mars/Olympus"}),
                "pages[0].opening_hours.time_zone",
            ),
            (
                json!({"time_zone": "UTC", "weekly": {"mon": ["09:00-17:00", "9-5"]}}),
                "pages[0].opening_hours.weekly.mon[1]",
            ),
            (
                json!({"time_zone": "UTC", "weekly": {"tue": ["17:00-09:00"]}}),
                "pages[0].opening_hours.weekly.tue[0]",
            ),
            (
                json!({"time_zone": "UTC", "weekly": {"wed": ["09:00-13:00", "12:00-17:00"]}}),
                "pages[0].opening_hours.weekly.wed",
            ),
            (
                json!({"time_zone": "UTC", "weekly": {"monday": ["09:00-17:00"]}}),
                "pages[0].opening_hours.weekly",
            ),
            (
                json!({"time_zone": "UTC", "closed_dates": ["2026-12-25", "25.12.2026"]}),
                "pages[0].opening_hours.closed_dates[1]",
            ),
        ];
        for (value, field) in cases {
            let err = error_of(hours(value.clone()));
            assert!(err.contains(field), "{value}: {err}");
        }
        let doc = hours(json!({"time_zone": "Europe/Berlin",
            "weekly": {"mon": ["09:00-12:30", "13:30-24:00"]}, "closed_dates": ["2026-12-25"]}));
        let config = CoordinatorConfig::from_json(&doc.to_string()).unwrap();
        let calendar = config.pages[0]
            .hours
            .as_ref()
            .expect("the calendar is built");
        // Monday 2026-11-30 10:00 in Berlin is 09:00 UTC.
        assert!(calendar.is_open(1_796_029_200_000));
        assert!(!calendar.is_open(1_796_029_200_000 + 3 * 3_600_000));
        let mut doc = valid();
        doc["pages"][0]["messages"]["out_of_hours"] = json!(" ");
        assert!(error_of(doc).contains("pages[0].messages.out_of_hours"));
    }

    #[test]
    fn idle_expiry_defaults_to_a_year_and_is_bounded() {
        let config = CoordinatorConfig::from_json(&valid().to_string()).unwrap();
        let page = config.page("111").unwrap();
        assert_eq!(page.idle_expiry_days, 365);
        assert!(
            !page.events_identify_people,
            "events name nobody by default"
        );
        for days in [0, 7, 3651] {
            let mut doc = valid();
            doc["pages"][0]["idle_expiry_days"] = json!(days);
            let err = error_of(doc);
            assert!(err.contains("pages[0].idle_expiry_days"), "{err}");
        }
        let mut doc = valid();
        doc["pages"][0]["idle_expiry_days"] = json!(8);
        assert!(CoordinatorConfig::from_json(&doc.to_string()).is_ok());
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

    /// A secret-shaped value in every secret field, in every wrong shape: no error message
    /// shows it (serde quotes the values it rejects).
    #[test]
    fn no_secret_reaches_an_error_message() {
        const SECRET: &str = "EAAGsecretShaped0123456789abcdef";
        let numeric: u64 = 98_765_432_109_876_543;
        let cases: Vec<(&str, Value)> = vec![
            ("/apps/0/app_secret", json!(numeric)),
            ("/apps/0/app_secret", json!({SECRET: 1})),
            ("/apps/1/verify_token", json!(numeric)),
            ("/apps/1/verify_token", json!([SECRET])),
            ("/apps/0/page_tokens", json!(SECRET)),
            ("/apps/0/page_tokens", json!([SECRET])),
            ("/apps/0/page_tokens", json!({SECRET: "111"})),
            ("/apps/0/page_tokens", json!({"111": numeric})),
            ("/apps/0/page_tokens", json!({SECRET: numeric})),
            ("/api_tokens", json!(SECRET)),
            ("/api_tokens", json!({SECRET: SECRET})),
            ("/api_tokens", json!([numeric])),
            ("/api_tokens", json!([{"token": numeric}])),
            ("/api_tokens", json!([{"token": SECRET, "scope": SECRET}])),
            ("/api_tokens", json!([{"token": SECRET, "pages": SECRET}])),
            ("/api_tokens", json!([{"token": SECRET, "unknown": SECRET}])),
            ("/api_tokens", json!([{"token": SECRET, "pages": ["999"]}])),
            ("/api_tokens", json!([SECRET, SECRET])),
        ];
        for (pointer, value) in cases {
            let err = error_of(with(valid(), pointer, value.clone()));
            assert!(
                !err.contains(SECRET) && !err.contains(&numeric.to_string()),
                "{pointer} = {value}: {err}"
            );
            assert!(err.starts_with("configuration: "), "{err}");
        }
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
