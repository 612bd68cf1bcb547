//! Who controls a conversation: the roles an app plays for a Page, and the owner.

use serde::{Deserialize, Serialize};

/// Meta's own Page Inbox app (Meta Business Suite). A human replying there takes control.
pub const PAGE_INBOX_APP_ID: &str = "263902037430900";

/// The role an app plays for a Page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRole {
    Bot,
    Inbox,
    PageInbox,
    Other,
    Idle,
}

impl OwnerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerRole::Bot => "bot",
            OwnerRole::Inbox => "inbox",
            OwnerRole::PageInbox => "page_inbox",
            OwnerRole::Other => "other",
            OwnerRole::Idle => "idle",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "bot" => OwnerRole::Bot,
            "inbox" => OwnerRole::Inbox,
            "page_inbox" => OwnerRole::PageInbox,
            "other" => OwnerRole::Other,
            "idle" => OwnerRole::Idle,
            _ => return None,
        })
    }

    /// Humans answer conversations held by these roles.
    pub fn is_human(self) -> bool {
        matches!(self, OwnerRole::Inbox | OwnerRole::PageInbox)
    }

    /// Control is "away from the bot": a lease (timed reset) runs.
    pub fn holds_lease(self) -> bool {
        matches!(
            self,
            OwnerRole::Inbox | OwnerRole::PageInbox | OwnerRole::Other
        )
    }
}

/// Who controls a conversation. `app_id` is `None` when idle, or when we know only that
/// some app other than ours holds it (role `other`, flagged for re-sync).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub app_id: Option<String>,
    pub role: OwnerRole,
}

impl Owner {
    pub fn idle() -> Self {
        Owner {
            app_id: None,
            role: OwnerRole::Idle,
        }
    }

    /// Some app we cannot name holds the thread.
    pub fn unknown_other() -> Self {
        Owner {
            app_id: None,
            role: OwnerRole::Other,
        }
    }

    pub fn app(app_id: impl Into<String>, role: OwnerRole) -> Self {
        Owner {
            app_id: Some(app_id.into()),
            role,
        }
    }

    pub fn is(&self, app_id: &str) -> bool {
        self.app_id.as_deref() == Some(app_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_classify() {
        for role in [
            OwnerRole::Bot,
            OwnerRole::Inbox,
            OwnerRole::PageInbox,
            OwnerRole::Other,
            OwnerRole::Idle,
        ] {
            assert_eq!(OwnerRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(OwnerRole::parse("agent"), None);
        assert!(OwnerRole::Inbox.holds_lease() && OwnerRole::Other.holds_lease());
        assert!(!OwnerRole::Bot.holds_lease() && !OwnerRole::Idle.holds_lease());
    }
}
