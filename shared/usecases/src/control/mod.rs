//! The control service (docs/architecture.md, "control-handoff"): read a conversation, the
//! queue and the timeline; pass, take, release, request, reset and extend control; send
//! agent messages; mark read. The record changes only after Meta confirms, with a
//! conditional write.

mod commands;
mod messages;
mod outcome;
mod queries;

pub use commands::{ControlOutcome, ControlRequest};
pub use messages::{MessageOutcome, MessageRequest};

use std::sync::Arc;

use crate::config::{ApiToken, AppConfig, PagePolicy, Secret};
use crate::ports::{GraphApi, GraphError};
use crate::records::{RecordError, Records};
use crate::resync::Resync;
use routing_domain::transition::Transition;
use routing_domain::{agent_control_metadata, Conversation, Owner, PAGE_INBOX_APP_ID};

/// The standard messaging window after the customer's last message.
pub const RESPONSE_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// The `HUMAN_AGENT` tag's window.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;
/// Meta's limit on a text message.
pub const MAX_TEXT_CHARS: usize = 2000;
/// How long a refusal may wait for the inline re-sync that names Meta's owner.
const INLINE_RESYNC_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a control action, a message or a query did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("page {0:?} is not configured")]
    UnknownPage(String),
    /// `as` names no app the coordinator acts as on the Page.
    #[error("{0}")]
    UnknownApp(String),
    /// `as` names an app the API token may not act as (`acts_as`).
    #[error("{0}")]
    ActingForbidden(String),
    #[error("{0}")]
    UnknownConversation(String),
    /// A request field is not valid: `code` names the rule, the message the field.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Meta allows no message now (24 h / 7 day windows).
    #[error("{0}")]
    WindowClosed(&'static str),
    /// The bot never talks over another owner.
    #[error("another app controls this conversation: the bot may not speak")]
    BotMayNotSpeak { owner: Owner },
    /// Meta refused or failed; `owner` is Meta's owner when a re-sync named it, else ours.
    #[error("{error}")]
    Graph { error: GraphError, owner: Owner },
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl ControlError {
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ControlError::Invalid {
            code,
            message: message.into(),
        }
    }
}

/// The control service: built once per container.
#[derive(Clone)]
pub struct ControlService {
    records: Records,
    graph: Arc<dyn GraphApi>,
    resync: Resync,
    /// The agent the actions of this handle are credited to (an API token's
    /// `agent_name`).
    agent: Option<Arc<str>>,
    /// The API token this handle acts for (its `acts_as`); `None`: any app (the
    /// coordinator's own services).
    token: Option<Arc<ApiToken>>,
}

impl ControlService {
    pub fn new(records: Records, graph: Arc<dyn GraphApi>) -> Self {
        let resync = Resync::new(records.clone(), graph.clone());
        ControlService {
            records,
            graph,
            resync,
            agent: None,
            token: None,
        }
    }

    /// The same service acting for an API token: its actions are credited to its agent,
    /// and it acts only as the apps the token names.
    pub fn for_token(&self, token: &ApiToken) -> ControlService {
        ControlService {
            token: Some(Arc::new(token.clone())),
            ..self.acting_for(token.agent_name.as_deref())
        }
    }

    /// Whether this handle may act as `app_id` on `page`.
    pub(crate) fn may_act_as(&self, page: &PagePolicy, app_id: &str) -> bool {
        self.token
            .as_ref()
            .is_none_or(|token| token.may_act_as(page, app_id))
    }

    /// The `metadata` of a thread-control call: the caller's, after the agent's name when
    /// an agent acts, so that Meta's webhook about the change credits them too.
    pub(crate) fn control_metadata(&self, metadata: Option<&str>) -> Option<String> {
        match &self.agent {
            Some(agent) => Some(agent_control_metadata(agent, metadata)),
            None => metadata.map(str::to_string),
        }
    }

    /// The same service, crediting the timeline entries of its actions to `agent`.
    pub fn acting_for(&self, agent: Option<&str>) -> ControlService {
        ControlService {
            agent: agent.map(Arc::from),
            ..self.clone()
        }
    }

    /// Stamp the entries an action writes with the agent who asked for it.
    pub(crate) fn credit(&self, mut transition: Transition) -> Transition {
        if let Some(agent) = &self.agent {
            for entry in &mut transition.timeline {
                entry.agent = Some(agent.to_string());
            }
        }
        transition
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    pub fn graph(&self) -> &Arc<dyn GraphApi> {
        &self.graph
    }

    pub(crate) fn page(&self, page_id: &str) -> Result<&PagePolicy, ControlError> {
        self.records
            .config()
            .page(page_id)
            .ok_or_else(|| ControlError::UnknownPage(page_id.to_string()))
    }

    /// `as`: `inbox`, `bot` or an app id, which must be one the API token may act as (else
    /// 403 naming it) and one of our apps with a token for the page.
    pub(crate) fn acting_app(
        &self,
        page: &PagePolicy,
        acting: &str,
    ) -> Result<(&AppConfig, &Secret), ControlError> {
        let app_id = acting_app_id(page, acting)?;
        if !self.may_act_as(page, app_id) {
            return Err(ControlError::ActingForbidden(format!(
                "as: this API token may not act as app {app_id} ({}) on page {}",
                page.role_of(app_id).as_str(),
                page.id
            )));
        }
        let app = self.records.config().app(app_id).ok_or_else(|| {
            ControlError::UnknownApp(format!(
                "as: app {app_id} is not one the coordinator acts as"
            ))
        })?;
        let token = app.page_tokens.get(&page.id).ok_or_else(|| {
            ControlError::UnknownApp(format!(
                "as: app {app_id} has no token for page {}",
                page.id
            ))
        })?;
        Ok((app, token))
    }

    fn target_app(page: &PagePolicy, target: Option<&str>) -> Result<String, ControlError> {
        match target {
            Some("inbox") => Ok(page.inbox_app_id.clone()),
            Some("bot") => Ok(page.bot_app_id.clone()),
            Some("page_inbox") => Ok(PAGE_INBOX_APP_ID.to_string()),
            Some(id) if is_app_id(id) => Ok(id.to_string()),
            Some(other) => Err(ControlError::invalid(
                "bad_target",
                format!("target: {other:?} is not inbox, bot, page_inbox or an app id"),
            )),
            None => Err(ControlError::invalid(
                "missing_target",
                "target is required for pass",
            )),
        }
    }

    /// The stored record, or 404.
    async fn stored(
        &self,
        page_id: &str,
        psid: &str,
        why: &str,
    ) -> Result<Conversation, ControlError> {
        self.records.load(page_id, psid).await?.ok_or_else(|| {
            ControlError::UnknownConversation(format!("no conversation with {psid}{why}"))
        })
    }

    /// Meta's answer to a call made for a control action: its value, or the error (a
    /// "not owner" also flags the record for re-sync and re-syncs it).
    async fn confirmed<T>(
        &self,
        page_id: &str,
        psid: &str,
        owner: &Owner,
        answer: Result<T, GraphError>,
    ) -> Result<T, ControlError> {
        match answer {
            Ok(value) => Ok(value),
            Err(error) => Err(self.failure(page_id, psid, owner, error).await),
        }
    }

    /// Meta's refusal or failure as the service's error; a "not owner" is re-synced, an
    /// unknown outcome flagged for re-sync.
    async fn failure(
        &self,
        page_id: &str,
        psid: &str,
        owner: &Owner,
        error: GraphError,
    ) -> ControlError {
        match error {
            GraphError::NotOwner { .. } => self.refused(page_id, psid, error).await,
            GraphError::OutcomeUnknown(_) => {
                // Meta may have applied it (a message with a carried reset moves control
                // too): the re-sync batch asks Meta. Never repeated here.
                if let Err(err) = self.records.flag_for_resync(page_id, psid).await {
                    tracing::warn!(page_id, error = %err, "could not flag for re-sync");
                }
                ControlError::Graph {
                    error,
                    owner: owner.clone(),
                }
            }
            error => ControlError::Graph {
                error,
                owner: owner.clone(),
            },
        }
    }

    /// Meta said the acting app is not the owner (Send API 10/2018300, thread control
    /// 100/2534037): flag the record for re-sync, then re-sync it right away (best effort:
    /// when that fails it stays flagged for the scheduled batch); the error names the owner
    /// Meta names, or else the owner we know.
    async fn refused(&self, page_id: &str, psid: &str, error: GraphError) -> ControlError {
        let flagged = self.records.flag_for_resync(page_id, psid).await;
        tracing::warn!(page_id, error = %error, "Meta refused a control action; flagged for re-sync");
        let known = match flagged {
            Ok(record) if record.version > 0 => record.owner,
            // No record (nothing to correct) or no store: the owner we know.
            Ok(record) => {
                return ControlError::Graph {
                    error,
                    owner: record.owner,
                }
            }
            Err(_) => {
                let owner = Owner::unknown_other();
                return ControlError::Graph { error, owner };
            }
        };
        // The re-sync only asks `thread_owner` and writes the record: it never comes back
        // here. Bounded: the caller waits for this answer (API Gateway gives up after 30 s).
        let resync = self.resync.resync(page_id, psid);
        let owner = match tokio::time::timeout(INLINE_RESYNC_BUDGET, resync).await {
            Ok(Ok(outcome)) => outcome.conversation.owner,
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    page_id,
                    "inline re-sync did not finish; left flagged for the batch"
                );
                known
            }
        };
        ControlError::Graph { error, owner }
    }
}

/// `as`: `inbox`, `bot` or an app id, as an app id.
fn acting_app_id<'a>(page: &'a PagePolicy, acting: &'a str) -> Result<&'a str, ControlError> {
    match acting {
        "inbox" => Ok(page.inbox_app_id.as_str()),
        "bot" => Ok(page.bot_app_id.as_str()),
        other if is_app_id(other) => Ok(other),
        other => Err(ControlError::invalid(
            "bad_as",
            format!("as: {other:?} is not inbox, bot or an app id"),
        )),
    }
}

/// Meta's app ids are numeric.
fn is_app_id(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_digit())
}
