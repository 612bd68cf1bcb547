//! Webhook events as the coordinator understands them, whatever the wire shape: the
//! feed an event arrived on, its kind, the customer it concerns, and its exactly-once
//! key.

use sha2::{Digest, Sha256};

use super::time::EpochMillis;

/// The list of the webhook entry an event arrived in (`entry[].messaging`,
/// `entry[].standby`, `entry[].changes`): whether the receiving app held the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feed {
    /// The receiving app controls the thread.
    Messaging,
    /// The receiving app does not control the thread.
    Standby,
    /// The app dashboard's "test" button (`entry[].changes`): sample data, never applied.
    DashboardTest,
}

impl Feed {
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Messaging => "messaging",
            Feed::Standby => "standby",
            Feed::DashboardTest => "changes",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A customer message (text, quick reply, attachments).
    Message {
        mid: String,
        text: Option<String>,
        quick_reply_payload: Option<String>,
        attachments: u32,
    },
    /// The echo of a message the Page sent; `app_id` is the app that sent it.
    Echo {
        mid: String,
        app_id: Option<String>,
        text: Option<String>,
        metadata: Option<String>,
        attachments: u32,
    },
    /// A message Meta itself writes into the thread, with no `mid` (Meta Business AI's
    /// hand-back, carrying `admin_text`): who holds the thread is Meta's to say.
    SystemMessage {
        text: Option<String>,
    },
    /// A postback button tap; on `standby` it carries no payload.
    Postback {
        mid: Option<String>,
        title: Option<String>,
        payload: Option<String>,
    },
    Read {
        watermark: Option<EpochMillis>,
    },
    Delivery {
        watermark: Option<EpochMillis>,
        mids: Vec<String>,
    },
    PassThreadControl {
        previous_owner_app_id: Option<String>,
        new_owner_app_id: Option<String>,
        metadata: Option<String>,
    },
    TakeThreadControl {
        previous_owner_app_id: Option<String>,
        new_owner_app_id: Option<String>,
        metadata: Option<String>,
    },
    RequestThreadControl {
        requested_owner_app_id: Option<String>,
        metadata: Option<String>,
    },
    /// `app_roles:{"<app_id>":["primary_receiver"|...]}` (Page-level, no customer).
    AppRoles {
        roles: Vec<(String, Vec<String>)>,
    },
    /// A kind we do not handle; kept and counted, never a parse failure.
    Unknown {
        kind: String,
    },
}

impl EventKind {
    /// Whether this kind can change a conversation's record (reads, deliveries, Page-level
    /// and unknown kinds never do, so they are not even read).
    pub fn touches_conversation(&self) -> bool {
        !matches!(
            self,
            EventKind::Read { .. }
                | EventKind::Delivery { .. }
                | EventKind::AppRoles { .. }
                | EventKind::Unknown { .. }
        )
    }

    /// A short name for logs and metrics (never the content).
    pub fn name(&self) -> &str {
        match self {
            EventKind::Message { .. } => "message",
            EventKind::Echo { .. } => "echo",
            EventKind::SystemMessage { .. } => "system_message",
            EventKind::Postback { .. } => "postback",
            EventKind::Read { .. } => "read",
            EventKind::Delivery { .. } => "delivery",
            EventKind::PassThreadControl { .. } => "pass_thread_control",
            EventKind::TakeThreadControl { .. } => "take_thread_control",
            EventKind::RequestThreadControl { .. } => "request_thread_control",
            EventKind::AppRoles { .. } => "app_roles",
            EventKind::Unknown { kind } => kind,
        }
    }
}

/// One event of one entry, with the customer (PSID) already worked out: for echoes the
/// customer is the recipient, for everything else the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    pub page_id: String,
    pub psid: Option<String>,
    pub feed: Feed,
    /// Normalised to milliseconds; from the event, else from the entry's `time`.
    pub timestamp: Option<EpochMillis>,
    pub kind: EventKind,
}

impl WebhookEvent {
    /// The exactly-once key of this delivery to `receiving_app`: the message id where there
    /// is one, else a hash of page, customer, kind, timestamp and app ids.
    pub fn applied_key(&self, receiving_app: &str) -> String {
        let feed = self.feed.as_str();
        match &self.kind {
            EventKind::Message { mid, .. } | EventKind::Echo { mid, .. } => {
                format!("{}:{mid}:{receiving_app}:{feed}", self.kind.name())
            }
            EventKind::Postback { mid: Some(mid), .. } => {
                format!("postback:{mid}:{receiving_app}:{feed}")
            }
            kind => {
                let mut hasher = Sha256::new();
                for part in [
                    self.page_id.as_str(),
                    self.psid.as_deref().unwrap_or(""),
                    kind.name(),
                    &self.timestamp.unwrap_or_default().to_string(),
                    receiving_app,
                    feed,
                    &app_ids_of(kind),
                ] {
                    hasher.update(part.as_bytes());
                    hasher.update([0u8]);
                }
                let digest = hex::encode(hasher.finalize());
                format!("{}:{}", kind.name(), &digest[..32])
            }
        }
    }
}

fn app_ids_of(kind: &EventKind) -> String {
    match kind {
        EventKind::PassThreadControl {
            previous_owner_app_id,
            new_owner_app_id,
            metadata,
        }
        | EventKind::TakeThreadControl {
            previous_owner_app_id,
            new_owner_app_id,
            metadata,
        } => format!(
            "{}>{}|{}",
            previous_owner_app_id.as_deref().unwrap_or(""),
            new_owner_app_id.as_deref().unwrap_or(""),
            metadata.as_deref().unwrap_or("")
        ),
        EventKind::RequestThreadControl {
            requested_owner_app_id,
            metadata,
        } => format!(
            "{}|{}",
            requested_owner_app_id.as_deref().unwrap_or(""),
            metadata.as_deref().unwrap_or("")
        ),
        EventKind::SystemMessage { text } => text.clone().unwrap_or_default(),
        EventKind::Postback { title, payload, .. } => format!(
            "{}|{}",
            title.as_deref().unwrap_or(""),
            payload.as_deref().unwrap_or("")
        ),
        _ => String::new(),
    }
}
