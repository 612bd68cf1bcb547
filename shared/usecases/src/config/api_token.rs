//! The API tokens of the configuration document: each entry is a plain string (every Page,
//! every action, as before) or `{"token", "pages": [...], "scope": "read" | "act",
//! "agent_name", "acts_as": ["inbox" | "bot" | "<app id>", ...]}`.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{PagePolicy, Secret};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Read conversations, queues and timelines.
    Read,
    /// Read, and act: control, messages, mark read, re-sync.
    Act,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Act => "act",
        }
    }
}

/// One entry of `api_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub token: Secret,
    /// The Pages it may reach; `None`: every Page.
    pub pages: Option<Vec<String>>,
    pub scope: TokenScope,
    /// Recorded as the actor of this token's actions.
    pub agent_name: Option<String>,
    /// The apps the token may act as (`as`): `inbox`, `bot` (the Page's) or app ids.
    /// `None`: any app the coordinator acts as (a plain token, or a scoped one naming no
    /// agent); an agent's token names the inbox only unless it says more.
    pub acts_as: Option<Vec<String>>,
}

impl ApiToken {
    /// A plain token: every Page, every action.
    pub fn unrestricted(token: impl Into<String>) -> Self {
        ApiToken {
            token: Secret::new(token),
            pages: None,
            scope: TokenScope::Act,
            agent_name: None,
            acts_as: None,
        }
    }

    /// Whether the token may act as `app_id` on `page`.
    pub fn may_act_as(&self, page: &PagePolicy, app_id: &str) -> bool {
        let Some(apps) = &self.acts_as else {
            return true;
        };
        apps.iter().any(|app| match app.as_str() {
            "inbox" => page.inbox_app_id == app_id,
            "bot" => page.bot_app_id == app_id,
            id => id == app_id,
        })
    }

    /// Whether the token reaches `page_id` with `scope`.
    pub fn allows(&self, page_id: &str, scope: TokenScope) -> bool {
        let page = self
            .pages
            .as_ref()
            .is_none_or(|pages| pages.iter().any(|p| p == page_id));
        page && self.scope >= scope
    }
}

/// The object form of an entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopedToken {
    token: Secret,
    #[serde(default)]
    pages: Option<Vec<String>>,
    /// Least privilege when not said: read only.
    #[serde(default = "read_only")]
    scope: TokenScope,
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default)]
    acts_as: Option<Vec<ActsAs>>,
}

fn read_only() -> TokenScope {
    TokenScope::Read
}

/// One entry of `acts_as`: `inbox`, `bot` or an app id (digits).
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct ActsAs(String);

impl TryFrom<String> for ActsAs {
    type Error = String;

    fn try_from(app: String) -> Result<Self, Self::Error> {
        let app_id = !app.is_empty() && app.chars().all(|c| c.is_ascii_digit());
        if app == "inbox" || app == "bot" || app_id {
            Ok(ActsAs(app))
        } else {
            Err(format!("acts_as: {app:?} is not inbox, bot or an app id"))
        }
    }
}

impl<'de> Deserialize<'de> for ApiToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ApiTokenVisitor)
    }
}

struct ApiTokenVisitor;

impl<'de> Visitor<'de> for ApiTokenVisitor {
    type Value = ApiToken;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a token string or {"token", "pages", "scope", "agent_name", "acts_as"}"#)
    }

    fn visit_str<E: de::Error>(self, token: &str) -> Result<ApiToken, E> {
        Ok(ApiToken::unrestricted(token))
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ApiToken, M::Error> {
        let scoped = ScopedToken::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let acts_as = match scoped.acts_as {
            Some(apps) if apps.is_empty() => {
                return Err(de::Error::custom("acts_as: name at least one app"))
            }
            Some(apps) => Some(apps.into_iter().map(|app| app.0).collect()),
            // An agent acts as the human inbox, never as the bot, unless the token says so.
            None if scoped.agent_name.is_some() => Some(vec!["inbox".to_string()]),
            None => None,
        };
        Ok(ApiToken {
            token: scoped.token,
            pages: scoped.pages,
            scope: scoped.scope,
            agent_name: scoped.agent_name,
            acts_as,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_and_scoped_entries() {
        let plain: ApiToken = serde_json::from_value(json!("0123456789abcdef-x")).unwrap();
        assert_eq!(plain, ApiToken::unrestricted("0123456789abcdef-x"));
        assert!(plain.allows("111", TokenScope::Act));
        let scoped: ApiToken = serde_json::from_value(
            json!({"token": "0123456789abcdef-y", "pages": ["111"], "agent_name": "Sam"}),
        )
        .unwrap();
        assert_eq!(scoped.scope, TokenScope::Read, "read only unless said");
        assert!(scoped.allows("111", TokenScope::Read));
        assert!(!scoped.allows("111", TokenScope::Act));
        assert!(!scoped.allows("222", TokenScope::Read));
        assert_eq!(scoped.agent_name.as_deref(), Some("Sam"));
        assert!(serde_json::from_value::<ApiToken>(json!({"token": "x", "nope": 1})).is_err());
    }

    fn page() -> PagePolicy {
        serde_json::from_value(json!({"id": "111", "bot_app_id": "1001", "inbox_app_id": "2002"}))
            .unwrap()
    }

    #[test]
    fn an_agents_token_acts_as_the_inbox_only_unless_it_names_more() {
        let page = page();
        let agent: ApiToken = serde_json::from_value(
            json!({"token": "0123456789abcdef-s", "scope": "act", "agent_name": "Sam"}),
        )
        .unwrap();
        assert!(agent.may_act_as(&page, "2002"), "the inbox");
        assert!(!agent.may_act_as(&page, "1001"), "not the bot");
        assert!(!agent.may_act_as(&page, "3003"), "no other app");
        let both: ApiToken = serde_json::from_value(json!({"token": "0123456789abcdef-r",
            "scope": "act", "agent_name": "Robin", "acts_as": ["inbox", "bot"]}))
        .unwrap();
        assert!(both.may_act_as(&page, "1001") && both.may_act_as(&page, "2002"));
        assert!(!both.may_act_as(&page, "3003"));
        let by_id: ApiToken = serde_json::from_value(
            json!({"token": "0123456789abcdef-i", "scope": "act", "acts_as": ["3003"]}),
        )
        .unwrap();
        assert!(by_id.may_act_as(&page, "3003") && !by_id.may_act_as(&page, "2002"));
        // A plain token, and a scoped one naming no agent, act as any app (as before).
        let service: ApiToken =
            serde_json::from_value(json!({"token": "0123456789abcdef-b", "scope": "act"})).unwrap();
        assert!(service.may_act_as(&page, "1001"));
        assert!(ApiToken::unrestricted("0123456789abcdef-x").may_act_as(&page, "1001"));
        for bad in [json!([]), json!(["robot"]), json!("inbox")] {
            let doc = json!({"token": "0123456789abcdef-z", "acts_as": bad});
            assert!(serde_json::from_value::<ApiToken>(doc).is_err(), "{bad}");
        }
    }
}
