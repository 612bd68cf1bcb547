//! The Graph API port: the thread-control and Send API calls the coordinator makes, each
//! with the acting app's Page token, and the typed errors Meta's answers map to. Adapter:
//! `graph::GraphClient`; test double: `testing::ScriptedGraph`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Secret;
use routing_domain::EpochSeconds;

/// Who holds a thread according to Meta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadOwner {
    /// `None`: Meta names the owner only to the owner itself and the Page's default app;
    /// any other app learns only that the thread is owned, until `expires_at`.
    pub app_id: Option<String>,
    /// When Meta's control expires (epoch seconds), when Meta says.
    pub expires_at: Option<EpochSeconds>,
}

/// How a message is sent (Send API `messaging_type` and `tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagingType {
    /// Within 24 h of the customer's last message.
    Response,
    /// `MESSAGE_TAG` with `HUMAN_AGENT`: a human, up to 7 days after the last message.
    HumanAgent,
}

/// What to do with control in the same Send API call (conversation routing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadControl {
    Pass { app_id: String },
    Release,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub text: String,
    pub messaging_type: MessagingType,
    pub metadata: Option<String>,
    pub thread_control: Option<ThreadControl>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub message_id: String,
    pub recipient_id: Option<String>,
}

/// Meta's answer, typed by code and subcode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 100/2534037 (thread control) or 10/2018300 (Send API): another app controls it.
    #[error("another app controls this thread ({code}/{subcode})")]
    NotOwner { code: i64, subcode: i64 },
    /// 2018171: the app has no role on the Page.
    #[error("the app has no role in this Page's conversation routing")]
    NoRole,
    /// 100/2018234: a secondary receiver may not see another secondary's ownership.
    #[error("this app may not see the thread's owner")]
    OwnerHidden,
    /// 100/2018164: incorrect app id.
    #[error("incorrect app id")]
    WrongAppId,
    /// 10/2018278, 10/2534022: outside the allowed messaging window.
    #[error("outside the allowed messaging window")]
    WindowClosed,
    /// 190: the access token is invalid or expired.
    #[error("the access token is invalid or expired")]
    TokenInvalid,
    /// 4 (the app's limit), 17 (the user's), 32 (the Page's), 613, 80001 and 80006 (the
    /// Page's business-use-case limits: Pages API, Messenger); never retried inside a call.
    #[error("rate limited by the Graph API (code {code})")]
    RateLimited { code: i64 },
    /// 551/1545041, 200/1545041.
    #[error("this person isn't available right now")]
    PersonUnavailable,
    /// 2018321: Messenger's automated flow controls the thread; try later.
    #[error("Messenger's automated flow controls this thread")]
    AutomatedFlowInControl,
    /// Any other error Meta answered (permanent).
    #[error("Graph API error {code}/{subcode:?}: {message}")]
    Other {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    /// 5xx, timeouts, connection failures (after the retries ran out), when the call is
    /// known to have changed nothing: a read, or a request that never reached Meta.
    #[error("Graph API unavailable: {0}")]
    Unavailable(String),
    /// A request that changes something may have reached Meta, but no answer says what
    /// happened (a timeout after it was sent, a 5xx): Meta may have applied it. Never
    /// repeated blindly; ask `thread_owner`, or report the unknown outcome.
    #[error("the Graph API call may have been applied; its outcome is unknown: {0}")]
    OutcomeUnknown(String),
}

impl GraphError {
    /// Worth retrying later: the call changed nothing at Meta (5xx, timeouts and
    /// connection failures of reads or of requests that never reached Meta; rate limits).
    /// An [`GraphError::OutcomeUnknown`] is not: repeating it may apply it twice.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GraphError::Unavailable(_) | GraphError::RateLimited { .. }
        )
    }

    /// A rate limit of one Page (32: Page request limit; 613 and Meta's business-use-case
    /// limits 80001 (Pages) and 80006 (Messenger), counted per Page): work for other Pages
    /// may go on. The app's (4) and the user's (17) limits hold for every Page.
    pub fn is_page_rate_limit(&self) -> bool {
        matches!(
            self,
            GraphError::RateLimited {
                code: 32 | 613 | 80_001 | 80_006
            }
        )
    }

    /// A short, stable name of the error kind, for logs and metrics (never carries text).
    pub fn kind(&self) -> &'static str {
        match self {
            GraphError::NotOwner { .. } => "not_owner",
            GraphError::NoRole => "no_role",
            GraphError::OwnerHidden => "owner_hidden",
            GraphError::WrongAppId => "wrong_app_id",
            GraphError::WindowClosed => "window_closed",
            GraphError::TokenInvalid => "token_invalid",
            GraphError::RateLimited { .. } => "rate_limited",
            GraphError::PersonUnavailable => "person_unavailable",
            GraphError::AutomatedFlowInControl => "automated_flow_in_control",
            GraphError::Other { .. } => "other",
            GraphError::Unavailable(_) => "unavailable",
            GraphError::OutcomeUnknown(_) => "outcome_unknown",
        }
    }

    /// A permanent error raised on our side (bad configuration or input, unexpected
    /// answer): `Other` with status 0 when no HTTP answer is involved.
    pub fn local(status: u16, message: impl Into<String>) -> Self {
        GraphError::Other {
            status,
            code: 0,
            subcode: None,
            message: message.into(),
        }
    }
}

/// The Graph API calls the coordinator makes, each with the acting app's Page token.
#[async_trait]
pub trait GraphApi: Send + Sync {
    async fn pass_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        target_app_id: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn take_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn request_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn release_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn extend_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        duration_secs: u64,
    ) -> Result<(), GraphError>;

    /// `None` when the thread is idle.
    async fn thread_owner(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<ThreadOwner>, GraphError>;

    async fn send_message(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, GraphError>;
}
