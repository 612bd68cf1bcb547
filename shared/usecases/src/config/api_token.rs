//! The API tokens of the configuration document: each entry is a plain string (every Page,
//! every action, as before) or `{"token", "pages": [...], "scope": "read" | "act",
//! "agent_name"}`.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::Secret;

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
}

impl ApiToken {
    /// A plain token: every Page, every action.
    pub fn unrestricted(token: impl Into<String>) -> Self {
        ApiToken {
            token: Secret::new(token),
            pages: None,
            scope: TokenScope::Act,
            agent_name: None,
        }
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
}

fn read_only() -> TokenScope {
    TokenScope::Read
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
        f.write_str(r#"a token string or {"token", "pages", "scope", "agent_name"}"#)
    }

    fn visit_str<E: de::Error>(self, token: &str) -> Result<ApiToken, E> {
        Ok(ApiToken::unrestricted(token))
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ApiToken, M::Error> {
        let scoped = ScopedToken::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ApiToken {
            token: scoped.token,
            pages: scoped.pages,
            scope: scoped.scope,
            agent_name: scoped.agent_name,
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
}
