//! The channel of an account: which of Meta's messaging products its conversations are
//! on. A conversation is keyed by (account, customer): an account is a Messenger Page
//! today, an Instagram professional account or a WhatsApp phone number later; Meta's
//! object ids do not collide across channels, so the stored keys name the account's id
//! only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of Meta's messaging products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Messenger: the account is a Facebook Page, its customers are page-scoped ids (PSIDs).
    #[default]
    Messenger,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Messenger => "messenger",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_written_as_its_name_and_messenger_is_the_default() {
        assert_eq!(
            serde_json::to_value(Channel::Messenger).unwrap(),
            "messenger"
        );
        let read: Channel = serde_json::from_value(serde_json::json!("messenger")).unwrap();
        assert_eq!(read, Channel::default());
        assert!(serde_json::from_value::<Channel>(serde_json::json!("instagram")).is_err());
    }
}
