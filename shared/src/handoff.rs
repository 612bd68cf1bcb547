//! The control-handoff service (DESIGN §4): read a conversation, the queue and the
//! timeline; pass, take, release, request, reset and extend control; send agent messages;
//! mark read; and execute the actions that webhook triggers recorded. The record changes
//! only after Meta confirms, with a conditional write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::config::{
    AppConfig, CoordinatorConfig, PageConfig, ResetAction, Secret, DEFAULT_TIMELINE_RETENTION_DAYS,
};
use crate::domain::{
    rfc3339_millis, rfc3339_secs, ActionKind, Author, Cause, Clock, Conversation, EpochMillis,
    Owner, OwnerRole, PendingRequest, TimelineEntry, TimelineRecord, PAGE_INBOX_APP_ID,
};
use crate::graph::{GraphApi, GraphError, MessagingType, OutgoingMessage, ThreadControl};
use crate::http::{route_segments, ApiError, Reply};
use crate::store::{Page, QueueQuery, Store, StoreError, TimelineOrder, MAX_PAGE_SIZE};
use crate::transition::{apply_control_change, ControlChange, Transition};

/// The standard messaging window after the customer's last message.
pub const RESPONSE_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// The `HUMAN_AGENT` tag's window.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;
/// Meta's limit on a text message.
pub const MAX_TEXT_CHARS: usize = 2000;
/// A claimed action not finished after this long is given up (and flagged for re-sync).
pub const ACTION_CLAIM_TIMEOUT_MS: i64 = 5 * 60 * 1000;
const MAX_ATTEMPTS: u32 = 12;
/// How long a 409 `not_owner` may wait for the inline re-sync that names Meta's owner.
const INLINE_RESYNC_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);
const DEFAULT_QUEUE_LIMIT: u32 = 50;

/// `{"page_id","psid","owner":{"app_id","role"},...}`: the contract's conversation state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    pub page_id: String,
    pub psid: String,
    pub owner: Owner,
    pub unread: bool,
    pub version: u64,
    pub control_expires_at: Option<String>,
    /// The lease's deadline has passed (the timed reset is due, whether or not it ran).
    pub lease_expired: bool,
    pub last_customer_message_at: Option<String>,
    pub pending_request: Option<PendingRequestView>,
    pub pending_action: Option<ActionKind>,
    pub needs_resync: bool,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequestView {
    pub app_id: String,
    pub at: String,
}

impl ConversationView {
    pub fn of(c: &Conversation, now: EpochMillis) -> Self {
        ConversationView {
            page_id: c.page_id.clone(),
            psid: c.psid.clone(),
            owner: c.owner.clone(),
            unread: c.unread,
            version: c.version,
            control_expires_at: c.control_expires_at.map(rfc3339_secs),
            lease_expired: c.lease_expired(now),
            last_customer_message_at: c.last_customer_message_at.map(rfc3339_millis),
            pending_request: c.pending_request.as_ref().map(|p: &PendingRequest| {
                PendingRequestView {
                    app_id: p.app_id.clone(),
                    at: rfc3339_millis(p.at),
                }
            }),
            pending_action: c.pending_action.as_ref().map(|a| a.action),
            needs_resync: c.needs_resync,
            updated_at: rfc3339_millis(c.updated_at),
        }
    }
}

/// A timeline entry with its time in RFC 3339.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineView {
    pub at: String,
    pub key: String,
    #[serde(flatten)]
    pub record: TimelineRecord,
}

/// `POST .../control`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    pub action: String,
    #[serde(rename = "as", default)]
    pub acting: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// `POST .../messages`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    pub text: String,
    #[serde(rename = "as", default)]
    pub acting: Option<String>,
    #[serde(default)]
    pub take_control: bool,
    #[serde(default)]
    pub reset_after: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageOutcome {
    pub message_id: String,
    pub messaging_type: MessagingType,
    pub conversation: ConversationView,
}

/// The control-handoff service: built once per container.
#[derive(Clone)]
pub struct ControlService {
    pub(crate) config: Arc<CoordinatorConfig>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) graph: Arc<dyn GraphApi>,
    pub(crate) clock: Arc<dyn Clock>,
}

static API_SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique key for an API-made timeline entry.
pub(crate) fn api_key(kind: &str, now: EpochMillis) -> String {
    format!(
        "api:{kind}:{now}:{}",
        API_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::InvalidCursor => ApiError::bad_request("bad_cursor", "cursor is not valid"),
        other => ApiError::new(503, "store_unavailable", other.to_string()),
    }
}

fn owner_details(owner: &Owner) -> serde_json::Value {
    json!({ "owner": owner })
}

/// The Page's reset action (`reset_action`): the thread control that performs it, the
/// owner it leads to, and the event's name. Used by the API's `reset`, a message sent with
/// `reset_after`, and the timed reset.
fn reset_move(page: &PageConfig) -> (ThreadControl, Owner, &'static str) {
    match page.reset_action {
        ResetAction::Release => (
            ThreadControl::Release,
            Owner::idle(),
            "release_thread_control",
        ),
        ResetAction::PassToBot => (
            ThreadControl::Pass {
                app_id: page.bot_app_id.clone(),
            },
            Owner::app(&page.bot_app_id, OwnerRole::Bot),
            "pass_thread_control",
        ),
    }
}

/// Meta's refusal, in the HTTP contract.
pub(crate) fn graph_error(err: &GraphError, owner: &Owner) -> ApiError {
    match err {
        GraphError::NotOwner { .. } => ApiError::new(
            409,
            "not_owner",
            "Meta says the acting app does not control this conversation",
        )
        .with_details(owner_details(owner)),
        GraphError::WindowClosed => ApiError::new(409, "window_closed", err.to_string()),
        GraphError::NoRole => ApiError::new(409, "no_role", err.to_string()),
        GraphError::OwnerHidden => ApiError::new(409, "owner_hidden", err.to_string()),
        GraphError::WrongAppId => ApiError::bad_request("bad_target", err.to_string()),
        GraphError::PersonUnavailable => ApiError::new(409, "person_unavailable", err.to_string()),
        GraphError::AutomatedFlowInControl => {
            ApiError::new(409, "automated_flow_in_control", err.to_string())
        }
        GraphError::Unavailable(_) | GraphError::RateLimited { .. } => {
            ApiError::new(502, "graph_unavailable", err.to_string())
        }
        GraphError::TokenInvalid => ApiError::new(502, "graph_token_invalid", err.to_string()),
        GraphError::Other { .. } => ApiError::new(502, "graph_error", err.to_string()),
    }
}

impl ControlService {
    pub fn new(
        config: Arc<CoordinatorConfig>,
        store: Arc<dyn Store>,
        graph: Arc<dyn GraphApi>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ControlService {
            config,
            store,
            graph,
            clock,
        }
    }

    pub(crate) fn page(&self, page_id: &str) -> Result<&PageConfig, ApiError> {
        self.config.page(page_id).ok_or_else(|| {
            ApiError::not_found(
                "unknown_page",
                format!("page {page_id:?} is not configured"),
            )
        })
    }

    /// `as`: `inbox`, `bot` or an app id, which must be one of our apps with a token for
    /// the page.
    pub(crate) fn acting_app<'c>(
        &'c self,
        page: &PageConfig,
        acting: &str,
    ) -> Result<(&'c AppConfig, &'c Secret), ApiError> {
        let app_id = match acting {
            "inbox" => page.inbox_app_id.as_str(),
            "bot" => page.bot_app_id.as_str(),
            other if !other.is_empty() && other.chars().all(|c| c.is_ascii_digit()) => other,
            other => {
                return Err(ApiError::bad_request(
                    "bad_as",
                    format!("as: {other:?} is not inbox, bot or an app id"),
                ))
            }
        };
        let app = self.config.app(app_id).ok_or_else(|| {
            ApiError::not_found(
                "unknown_app",
                format!("as: app {app_id} is not one the coordinator acts as"),
            )
        })?;
        let token = app.page_tokens.get(&page.id).ok_or_else(|| {
            ApiError::not_found(
                "unknown_app",
                format!("as: app {app_id} has no token for page {}", page.id),
            )
        })?;
        Ok((app, token))
    }

    fn target_app(page: &PageConfig, target: Option<&str>) -> Result<String, ApiError> {
        match target {
            Some("inbox") => Ok(page.inbox_app_id.clone()),
            Some("bot") => Ok(page.bot_app_id.clone()),
            Some("page_inbox") => Ok(PAGE_INBOX_APP_ID.to_string()),
            Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) => {
                Ok(id.to_string())
            }
            Some(other) => Err(ApiError::bad_request(
                "bad_target",
                format!("target: {other:?} is not inbox, bot, page_inbox or an app id"),
            )),
            None => Err(ApiError::bad_request(
                "missing_target",
                "target is required for pass",
            )),
        }
    }

    pub(crate) async fn load(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, ApiError> {
        self.store
            .conversation(page_id, psid)
            .await
            .map_err(store_error)
    }

    /// Read, decide, write conditionally; on a version conflict read and decide again.
    pub(crate) async fn update<F>(
        &self,
        page_id: &str,
        psid: &str,
        decide: F,
    ) -> Result<Conversation, ApiError>
    where
        F: FnMut(&Conversation) -> Option<Transition> + Send,
    {
        self.update_from(page_id, psid, None, decide).await
    }

    /// [`ControlService::update`], deciding the first time on `first` (a record read or
    /// written earlier) instead of reading it again: the write is conditional on its
    /// version, so a record that changed since is read and decided again like any conflict.
    /// A `None` decision on `first` itself returns `first` unchecked: hand in a record on
    /// which `decide` writes (the timed reset's own claim), or one whose staleness is
    /// harmless.
    pub(crate) async fn update_from<F>(
        &self,
        page_id: &str,
        psid: &str,
        mut first: Option<Conversation>,
        mut decide: F,
    ) -> Result<Conversation, ApiError>
    where
        F: FnMut(&Conversation) -> Option<Transition> + Send,
    {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now_millis();
            let current = match first.take() {
                Some(known) => known,
                None => self
                    .load(page_id, psid)
                    .await?
                    .unwrap_or_else(|| Conversation::new(page_id, psid, now)),
            };
            let Some(transition) = decide(&current) else {
                return Ok(current);
            };
            // A Page no longer configured (a re-sync moving its flag) keeps the default.
            let retention = self.config.page(page_id).map_or(
                DEFAULT_TIMELINE_RETENTION_DAYS as i64 * 86_400,
                PageConfig::timeline_retention_secs,
            );
            let write = transition.into_write(Some(&current), retention, now);
            let state = write.state.clone();
            match self.store.write(write).await {
                Ok(_) => return Ok(state),
                Err(StoreError::VersionConflict) => continue,
                Err(other) => return Err(store_error(other)),
            }
        }
        Err(ApiError::new(
            503,
            "contention",
            "the conversation kept changing; try again",
        ))
    }

    /// Record a change of control Meta confirmed to the API.
    async fn record_change(
        &self,
        page: &PageConfig,
        psid: &str,
        to: Owner,
        actor: &str,
        event: &str,
        metadata: Option<&str>,
    ) -> Result<Conversation, ApiError> {
        let now = self.clock.now_millis();
        let key = api_key(event, now);
        self.update(&page.id, psid, |current| {
            if current.owner == to
                && current.version > 0
                && current.reset_claimed_at.is_none()
                && !current.lease_expired(now)
            {
                // Meta's webhook for this change arrived first and is already applied.
                return None;
            }
            let change = ControlChange {
                to: to.clone(),
                cause: Cause::Api,
                actor: Some(actor),
                event,
                metadata,
                at: now,
                key: key.clone(),
            };
            Some(apply_control_change(current, &change, page))
        })
        .await
    }

    /// Flag a stored conversation `needs_resync` (the scheduled batch finds it through the
    /// `resync` index); the record as it is afterwards.
    pub(crate) async fn flag_for_resync(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Conversation, ApiError> {
        self.update(page_id, psid, |current| {
            if current.needs_resync || current.version == 0 {
                return None;
            }
            let mut next = Transition::successor(current);
            next.state.needs_resync = true;
            Some(next)
        })
        .await
    }

    /// Meta said the acting app is not the owner (Send API 10/2018300, thread control
    /// 100/2534037): flag the record for re-sync, then re-sync it right away (best effort:
    /// when that fails it stays flagged for the scheduled batch), and answer 409 with the
    /// owner Meta names, or else the owner we know.
    async fn refused(&self, page_id: &str, psid: &str, err: &GraphError) -> ApiError {
        let flagged = self.flag_for_resync(page_id, psid).await;
        tracing::warn!(page_id, error = %err, "Meta refused a control action; flagged for re-sync");
        let known = match flagged {
            Ok(record) if record.version > 0 => record.owner,
            // No record (nothing to correct) or no store: the owner we know.
            Ok(record) => return graph_error(err, &record.owner),
            Err(_) => return graph_error(err, &Owner::unknown_other()),
        };
        // The re-sync only asks `thread_owner` and writes the record: it never comes back
        // here, so this cannot recurse.
        // Bounded: the caller waits for this answer (API Gateway gives up after 30 s).
        let resync = crate::resync::Resync::new(self.clone());
        let owner =
            match tokio::time::timeout(INLINE_RESYNC_BUDGET, resync.resync(page_id, psid)).await {
                Ok(Ok(outcome)) => outcome.conversation.owner,
                Ok(Err(_)) | Err(_) => {
                    tracing::warn!(
                        page_id,
                        "inline re-sync did not finish; left flagged for the batch"
                    );
                    known
                }
            };
        graph_error(err, &owner)
    }

    pub async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<ConversationView, ApiError> {
        self.page(page_id)?;
        let record = self.load(page_id, psid).await?.ok_or_else(|| {
            ApiError::not_found(
                "unknown_conversation",
                format!("no conversation with {psid} on page {page_id}"),
            )
        })?;
        Ok(ConversationView::of(&record, self.clock.now_millis()))
    }

    pub async fn queue(
        &self,
        page_id: &str,
        query: &HashMap<String, String>,
    ) -> Result<Page<ConversationView>, ApiError> {
        self.page(page_id)?;
        let role = match query.get("role").map(String::as_str) {
            None => OwnerRole::Inbox,
            Some(r) => OwnerRole::parse(r).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_role",
                    format!("role: {r:?} is not bot, inbox, page_inbox, other or idle"),
                )
            })?,
        };
        let unread_only = match query.get("unread").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "bad_unread",
                    format!("unread: {other:?} is not true or false"),
                ))
            }
        };
        let limit = parse_limit(query)?;
        let page = self
            .store
            .queue(&QueueQuery {
                page_id: page_id.to_string(),
                role,
                unread_only,
                limit,
                cursor: query.get("cursor").cloned(),
            })
            .await
            .map_err(store_error)?;
        let now = self.clock.now_millis();
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|c| ConversationView::of(c, now))
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    pub async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        query: &HashMap<String, String>,
    ) -> Result<Page<TimelineView>, ApiError> {
        self.page(page_id)?;
        let order = match query.get("order").map(String::as_str) {
            None | Some("desc") => TimelineOrder::NewestFirst,
            Some("asc") => TimelineOrder::OldestFirst,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "bad_order",
                    format!("order: {other:?} is not asc or desc"),
                ))
            }
        };
        let limit = parse_limit(query)?;
        let page = self
            .store
            .timeline(
                page_id,
                psid,
                order,
                limit,
                query.get("cursor").map(String::as_str),
            )
            .await
            .map_err(store_error)?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|e: TimelineEntry| TimelineView {
                    at: rfc3339_millis(e.at),
                    key: e.key,
                    record: e.record,
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    pub async fn mark_read(&self, page_id: &str, psid: &str) -> Result<ConversationView, ApiError> {
        self.page(page_id)?;
        let now = self.clock.now_millis();
        let record = self
            .update(page_id, psid, |current| {
                // A conversation never stored (version 0) is never unread: nothing written.
                if !current.unread {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.unread = false;
                next.state.updated_at = now;
                Some(next)
            })
            .await?;
        if record.version == 0 {
            return Err(ApiError::not_found(
                "unknown_conversation",
                format!("no conversation with {psid}"),
            ));
        }
        Ok(ConversationView::of(&record, now))
    }

    /// `POST .../control`: pass, take, release, request, reset, extend.
    pub async fn control(
        &self,
        page_id: &str,
        psid: &str,
        request: ControlRequest,
    ) -> Result<ConversationView, ApiError> {
        let page = self.page(page_id)?;
        let acting = request.acting.as_deref().unwrap_or("inbox");
        let metadata = request.metadata.as_deref();
        if metadata.is_some_and(|m| m.len() > 1000) {
            return Err(ApiError::bad_request(
                "bad_metadata",
                "metadata: at most 1000 characters",
            ));
        }
        let current = self.load(page_id, psid).await?;
        let owner = current
            .as_ref()
            .map_or_else(Owner::idle, |c| c.owner.clone());
        let record = match request.action.as_str() {
            action @ ("pass" | "take" | "release") => {
                let (app, token) = self.acting_app(page, acting)?;
                // The owner the action leads to, its event, and Meta's answer.
                let (to, event, answer) = match action {
                    "pass" => {
                        let target = Self::target_app(page, request.target.as_deref())?;
                        if target == app.id {
                            return Err(ApiError::bad_request(
                                "bad_target",
                                "target: cannot pass to the acting app itself",
                            ));
                        }
                        (
                            Owner::app(&target, page.role_of(&target)),
                            "pass_thread_control",
                            self.graph
                                .pass_thread_control(token, page_id, psid, &target, metadata)
                                .await,
                        )
                    }
                    "take" => (
                        Owner::app(&app.id, page.role_of(&app.id)),
                        "take_thread_control",
                        self.graph
                            .take_thread_control(token, page_id, psid, metadata)
                            .await,
                    ),
                    _ => (
                        Owner::idle(),
                        "release_thread_control",
                        self.graph
                            .release_thread_control(token, page_id, psid, metadata)
                            .await,
                    ),
                };
                self.confirmed(page_id, psid, &owner, answer).await?;
                self.record_change(page, psid, to, &app.id, event, metadata)
                    .await?
            }
            "request" => {
                let (app, token) = self.acting_app(page, acting)?;
                self.confirmed(
                    page_id,
                    psid,
                    &owner,
                    self.graph
                        .request_thread_control(token, page_id, psid, metadata)
                        .await,
                )
                .await?;
                let now = self.clock.now_millis();
                let key = api_key("request", now);
                let app_id = app.id.clone();
                self.update(page_id, psid, |current| {
                    let mut next = Transition::successor(current);
                    // Meta may already have granted it (its webhook can beat this write).
                    next.state.request_control(&app_id, now);
                    next.state.updated_at = now;
                    next.timeline.push(TimelineEntry::new(
                        now,
                        &key,
                        TimelineRecord::ControlRequest {
                            requested_by: app_id.clone(),
                            metadata: metadata.map(str::to_string),
                        },
                    ));
                    Some(next)
                })
                .await?
            }
            "reset" => {
                self.reset(
                    page,
                    psid,
                    request.acting.as_deref(),
                    current.as_ref(),
                    metadata,
                )
                .await?
            }
            "extend" => {
                let duration = request.duration_secs.ok_or_else(|| {
                    ApiError::bad_request(
                        "missing_duration_secs",
                        "duration_secs is required for extend",
                    )
                })?;
                if duration == 0 || duration > crate::config::MAX_RESET_AFTER_SECS {
                    return Err(ApiError::bad_request(
                        "bad_duration_secs",
                        "duration_secs: between 1 and 604800 (7 days)",
                    ));
                }
                let (app, token) = self.acting_app(page, acting)?;
                self.confirmed(
                    page_id,
                    psid,
                    &owner,
                    self.graph
                        .extend_thread_control(token, page_id, psid, duration)
                        .await,
                )
                .await?;
                let now = self.clock.now_millis();
                let key = api_key("extend", now);
                let app_id = app.id.clone();
                self.update(page_id, psid, |current| {
                    let mut next = Transition::successor(current);
                    next.state
                        .renew_lease(now, i64::try_from(duration).unwrap_or(0));
                    next.state.updated_at = now;
                    next.timeline.push(TimelineEntry::new(
                        now,
                        &key,
                        TimelineRecord::Control {
                            from: current.owner.clone(),
                            to: current.owner.clone(),
                            cause: Cause::Api,
                            actor: Some(app_id.clone()),
                            event: "extend_thread_control".into(),
                            metadata: Some(format!("{duration} s")),
                            late: false,
                        },
                    ));
                    Some(next)
                })
                .await?
            }
            other => {
                return Err(ApiError::bad_request(
                    "bad_action",
                    format!(
                        "action: {other:?} is not pass, take, release, request, reset or extend"
                    ),
                ))
            }
        };
        Ok(ConversationView::of(&record, self.clock.now_millis()))
    }

    /// The Page's reset action, performed by `as` or else by the owner when it is ours.
    async fn reset(
        &self,
        page: &PageConfig,
        psid: &str,
        acting: Option<&str>,
        current: Option<&Conversation>,
        metadata: Option<&str>,
    ) -> Result<Conversation, ApiError> {
        let owner = current.map_or_else(Owner::idle, |c| c.owner.clone());
        let acting = match acting {
            Some(a) => a.to_string(),
            None => match owner.app_id.as_deref() {
                Some(id) if self.config.app(id).is_some() => id.to_string(),
                _ => "inbox".to_string(),
            },
        };
        let (app, token) = self.acting_app(page, &acting)?;
        let metadata = metadata.or(Some("reset"));
        if page.reset_action == ResetAction::PassToBot && app.id == page.bot_app_id {
            // Already with the bot: nothing to do.
            return Ok(current
                .cloned()
                .unwrap_or_else(|| Conversation::new(&page.id, psid, self.clock.now_millis())));
        }
        let (to, event, answer) = self.reset_action(page, psid, token, metadata).await;
        self.confirmed(&page.id, psid, &owner, answer).await?;
        self.record_change(page, psid, to, &app.id, event, metadata)
            .await
    }

    /// The Page's reset action at Meta with `token` (release, or pass to the bot): the
    /// owner it leads to, the event's name, and Meta's answer. Shared by the API's `reset`
    /// and the timed reset.
    pub(crate) async fn reset_action(
        &self,
        page: &PageConfig,
        psid: &str,
        token: &Secret,
        metadata: Option<&str>,
    ) -> (Owner, &'static str, Result<(), GraphError>) {
        let (control, to, event) = reset_move(page);
        let answer = match control {
            ThreadControl::Release => {
                self.graph
                    .release_thread_control(token, &page.id, psid, metadata)
                    .await
            }
            ThreadControl::Pass { app_id } => {
                self.graph
                    .pass_thread_control(token, &page.id, psid, &app_id, metadata)
                    .await
            }
        };
        (to, event, answer)
    }

    /// Meta's answer to a call made for a control action: its value, or the contract's
    /// error (a "not owner" also flags the record for re-sync).
    async fn confirmed<T>(
        &self,
        page_id: &str,
        psid: &str,
        owner: &Owner,
        answer: Result<T, GraphError>,
    ) -> Result<T, ApiError> {
        match answer {
            Ok(value) => Ok(value),
            Err(err) => Err(self.on_graph_error(page_id, psid, &err, owner).await),
        }
    }

    async fn on_graph_error(
        &self,
        page_id: &str,
        psid: &str,
        err: &GraphError,
        owner: &Owner,
    ) -> ApiError {
        match err {
            GraphError::NotOwner { .. } => self.refused(page_id, psid, err).await,
            _ => graph_error(err, owner),
        }
    }

    /// `POST .../messages`: an agent (or the bot) writes to the customer.
    pub async fn send_message(
        &self,
        page_id: &str,
        psid: &str,
        request: MessageRequest,
    ) -> Result<MessageOutcome, ApiError> {
        let page = self.page(page_id)?;
        let text = request.text.trim();
        if text.is_empty() {
            return Err(ApiError::bad_request("bad_text", "text: must not be empty"));
        }
        if request.text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::bad_request(
                "bad_text",
                format!("text: at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        let (app, token) = self.acting_app(page, request.acting.as_deref().unwrap_or("inbox"))?;
        let role = page.role_of(&app.id);
        let record = self.load(page_id, psid).await?.ok_or_else(|| {
            ApiError::not_found(
                "unknown_conversation",
                format!("no conversation with {psid}: the customer has not written"),
            )
        })?;
        let now = self.clock.now_millis();
        let Some(last) = record.last_customer_message_at else {
            return Err(ApiError::new(
                409,
                "window_closed",
                "the customer has not written; Meta allows no message",
            ));
        };
        let age = now - last;
        let messaging_type = if age <= RESPONSE_WINDOW_MS {
            MessagingType::Response
        } else if age <= HUMAN_AGENT_WINDOW_MS && role != OwnerRole::Bot {
            MessagingType::HumanAgent
        } else {
            return Err(ApiError::new(
                409,
                "window_closed",
                if role == OwnerRole::Bot {
                    "more than 24 h since the customer's last message: the bot may not write"
                } else {
                    "more than 7 days since the customer's last message"
                },
            ));
        };
        let owner_live = record.owner.app_id.is_some() && !record.lease_expired(now);
        if role == OwnerRole::Bot && owner_live && !record.owner.is(&app.id) {
            // The bot never talks over an agent.
            return Err(ApiError::new(
                409,
                "not_owner",
                "another app controls this conversation: the bot may not speak",
            )
            .with_details(owner_details(&record.owner)));
        }
        // The record as this call last read or wrote it.
        let mut latest = record.clone();
        if request.take_control && !record.owner.is(&app.id) {
            let answer = self
                .graph
                .take_thread_control(token, page_id, psid, Some("agent reply"))
                .await;
            self.confirmed(page_id, psid, &record.owner, answer).await?;
            let to = Owner::app(&app.id, role);
            latest = self
                .record_change(
                    page,
                    psid,
                    to,
                    &app.id,
                    "take_thread_control",
                    Some("agent reply"),
                )
                .await?;
        }
        // Passing to the bot, by the bot itself, is nothing to do.
        let bot_passes_to_itself =
            page.reset_action == ResetAction::PassToBot && app.id == page.bot_app_id;
        let reset = (request.reset_after && !bot_passes_to_itself).then(|| reset_move(page));
        let outgoing = OutgoingMessage {
            text: request.text.clone(),
            messaging_type,
            metadata: None,
            thread_control: reset.as_ref().map(|(control, _, _)| control.clone()),
        };
        let answer = self
            .graph
            .send_message(token, page_id, psid, &outgoing)
            .await;
        let sent = self.confirmed(page_id, psid, &record.owner, answer).await?;
        let author = Author::for_role(role);
        let sent_at = self.clock.now_millis();
        let control_key = api_key("send", sent_at);
        let app_id = app.id.clone();
        let record = self
            .update_from(page_id, psid, Some(latest), |current| {
                // The message itself enters the timeline through its echo webhook (Meta
                // echoes every send to every subscribed app), keyed by its mid.
                let transition = match &reset {
                    Some((_, to, event)) => apply_control_change(
                        current,
                        &ControlChange {
                            to: to.clone(),
                            cause: Cause::Api,
                            actor: Some(&app_id),
                            event,
                            metadata: Some("reset after message"),
                            at: sent_at,
                            key: control_key.clone(),
                        },
                        page,
                    ),
                    None => {
                        let mut next = Transition::successor(current);
                        let state = &mut next.state;
                        state.updated_at = sent_at;
                        state.last_activity_at = state.last_activity_at.max(sent_at);
                        if author.is_human_agent() {
                            state.unread = false;
                            state.renew_lease(sent_at, page.reset_after());
                        }
                        next
                    }
                };
                Some(transition)
            })
            .await?;
        Ok(MessageOutcome {
            message_id: sent.message_id,
            messaging_type,
            conversation: ConversationView::of(&record, self.clock.now_millis()),
        })
    }

    /// Execute the action a webhook trigger recorded, exactly once: claim it with a
    /// conditional write, act through the Graph API, then record the result.
    pub async fn execute_pending_action(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<ConversationView>, ApiError> {
        let page = self.page(page_id)?;
        let now = self.clock.now_millis();
        // Claim.
        let mut claimed = None;
        let record = self
            .update(page_id, psid, |current| {
                claimed = None;
                let action = current.pending_action.as_ref()?;
                if action
                    .executing_since
                    .is_some_and(|since| now - since < ACTION_CLAIM_TIMEOUT_MS)
                {
                    return None;
                }
                let mut next = Transition::successor(current);
                let mut action = action.clone();
                if action.executing_since.is_some() {
                    // A previous executor died mid-way: do not act twice; ask Meta instead.
                    next.state.pending_action = None;
                    next.state.needs_resync = true;
                } else {
                    action.executing_since = Some(now);
                    next.state.pending_action = Some(action.clone());
                    claimed = Some(action);
                }
                Some(next)
            })
            .await?;
        let Some(action) = claimed else {
            return Ok(None);
        };
        let (app, token) = match self.acting_app(page, &action.acting_app_id) {
            Ok(found) => found,
            Err(err) => {
                self.finish_action(&record, &action, true).await?;
                return Err(err);
            }
        };
        let target = action
            .target_app_id
            .clone()
            .unwrap_or_else(|| page.inbox_app_id.clone());
        let confirmation = match action.action {
            ActionKind::PassToInbox => page.messages.to_human.clone(),
            ActionKind::PassToBot => page.messages.to_bot.clone(),
            ActionKind::GrantRequest => None,
        };
        let already = record.owner.is(&target);
        let result = if already {
            Ok(())
        } else if let Some(text) = &confirmation {
            // The confirmation and the pass in one Send API call: atomic.
            self.graph
                .send_message(
                    token,
                    page_id,
                    psid,
                    &OutgoingMessage {
                        text: text.clone(),
                        messaging_type: MessagingType::Response,
                        metadata: Some(action.source.clone()),
                        thread_control: Some(ThreadControl::Pass {
                            app_id: target.clone(),
                        }),
                    },
                )
                .await
                .map(drop)
        } else {
            self.graph
                .pass_thread_control(token, page_id, psid, &target, Some(&action.source))
                .await
        };
        match result {
            Ok(_) => {
                let at = self.clock.now_millis();
                let key = api_key("trigger", at);
                let to = Owner::app(&target, page.role_of(&target));
                let app_id = app.id.clone();
                let record = self
                    .update_from(page_id, psid, Some(record.clone()), |current| {
                        let mut transition = if current.owner == to {
                            Transition::successor(current)
                        } else {
                            apply_control_change(
                                current,
                                &ControlChange {
                                    to: to.clone(),
                                    cause: Cause::Trigger,
                                    actor: Some(&app_id),
                                    event: "pass_thread_control",
                                    metadata: Some(&action.source),
                                    at,
                                    key: key.clone(),
                                },
                                page,
                            )
                        };
                        if transition
                            .state
                            .pending_action
                            .as_ref()
                            .map(|a| &a.event_key)
                            == Some(&action.event_key)
                        {
                            transition.state.pending_action = None;
                        }
                        Some(transition)
                    })
                    .await?;
                tracing::info!(page_id, action = ?action.action, "trigger executed");
                Ok(Some(ConversationView::of(&record, at)))
            }
            Err(err) if err.is_transient() => {
                // Leave it pending for the next attempt.
                self.finish_action(&record, &action, false).await?;
                Err(graph_error(&err, &record.owner))
            }
            Err(err) => {
                self.finish_action(&record, &action, true).await?;
                Err(self
                    .on_graph_error(page_id, psid, &err, &record.owner)
                    .await)
            }
        }
    }

    /// Release a claimed action: drop it (`give_up`, flagged for re-sync) or un-claim it.
    /// `claimed` is the record as the claim wrote it.
    async fn finish_action(
        &self,
        claimed: &Conversation,
        action: &crate::domain::RequestedAction,
        give_up: bool,
    ) -> Result<(), ApiError> {
        let (page_id, psid) = (&claimed.page_id, &claimed.psid);
        self.update_from(page_id, psid, Some(claimed.clone()), |current| {
            let mine =
                current.pending_action.as_ref().map(|a| &a.event_key) == Some(&action.event_key);
            if !mine {
                return None;
            }
            let mut next = Transition::successor(current);
            if give_up {
                next.state.pending_action = None;
                next.state.needs_resync = true;
            } else if let Some(pending) = next.state.pending_action.as_mut() {
                pending.executing_since = None;
            }
            Some(next)
        })
        .await
        .map(drop)
    }

    /// Route an HTTP request of the contract (bearer token required).
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        query: &HashMap<String, String>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Reply {
        if let Err(err) = self.authorize(authorization) {
            return err.reply();
        }
        let result = self.route(method, path, query, body).await;
        match result {
            Ok(reply) => reply,
            Err(err) => err.reply(),
        }
    }

    /// The bearer token check of the HTTP API (constant time over the configured tokens).
    pub(crate) fn authorize(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "unauthorized",
                    "Authorization: Bearer <api token> is required",
                )
            })?;
        let allowed = self.config.api_tokens.iter().fold(false, |found, t| {
            found | bool::from(t.expose().as_bytes().ct_eq(token.as_bytes()))
        });
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "forbidden",
                "this API token is not allowed",
            ))
        }
    }

    async fn route(
        &self,
        method: &str,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let segments = route_segments(path, "pages").ok_or_else(|| {
            ApiError::not_found(
                "unknown_route",
                "expected /pages/{page_id}/conversations/...",
            )
        })?;
        match (method, segments.as_slice()) {
            ("GET", ["pages", page, "conversations"]) => {
                Ok(Reply::json(200, &self.queue(page, query).await?))
            }
            ("GET", ["pages", page, "conversations", psid]) => {
                Ok(Reply::json(200, &self.conversation(page, psid).await?))
            }
            ("GET", ["pages", page, "conversations", psid, "timeline"]) => {
                Ok(Reply::json(200, &self.timeline(page, psid, query).await?))
            }
            ("POST", ["pages", page, "conversations", psid, "control"]) => {
                let request: ControlRequest = parse_body(body)?;
                Ok(Reply::json(200, &self.control(page, psid, request).await?))
            }
            ("POST", ["pages", page, "conversations", psid, "messages"]) => {
                let request: MessageRequest = parse_body(body)?;
                Ok(Reply::json(
                    200,
                    &self.send_message(page, psid, request).await?,
                ))
            }
            ("POST", ["pages", page, "conversations", psid, "read"]) => {
                Ok(Reply::json(200, &self.mark_read(page, psid).await?))
            }
            (_, ["pages", _, "conversations"])
            | (_, ["pages", _, "conversations", _])
            | (_, ["pages", _, "conversations", _, "timeline" | "control" | "messages" | "read"]) => {
                Err(ApiError::method_not_allowed(format!(
                    "{method} is not allowed on {path}"
                )))
            }
            _ => Err(ApiError::not_found(
                "unknown_route",
                format!("no route {method} {path}"),
            )),
        }
    }
}

fn parse_limit(query: &HashMap<String, String>) -> Result<u32, ApiError> {
    match query.get("limit") {
        None => Ok(DEFAULT_QUEUE_LIMIT),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "bad_limit",
                    format!("limit: {raw:?} is not a number from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

/// A JSON body; errors name the field.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request("bad_request", format!("{field}: {}", err.inner()))
    })
}
