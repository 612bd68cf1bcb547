//! `POST .../control`: pass, take, release, request, reset and extend. Each asks Meta
//! first and records only what Meta confirmed.

use serde::Deserialize;

use super::{ControlError, ControlService};
use crate::config::{AppConfig, PagePolicy, Secret, MAX_RESET_AFTER_SECS};
use crate::page_reset::{perform_reset, reset_move};
use crate::records::change_key;
use routing_domain::transition::{
    apply_control_change, confirm_recorded_change, ControlChange, Transition,
};
use routing_domain::{names_an_agent, Cause, Conversation, Happening, Owner, TimelineEntry};

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

/// Longest `metadata` Meta accepts.
const MAX_METADATA_CHARS: usize = 1000;

/// What `POST .../control` did: the record afterwards and, when nothing needed doing,
/// why.
#[derive(Clone, Debug)]
pub struct ControlOutcome {
    pub conversation: Conversation,
    pub unchanged: Option<&'static str>,
}

impl ControlOutcome {
    fn changed(conversation: Conversation) -> Self {
        ControlOutcome {
            conversation,
            unchanged: None,
        }
    }

    fn unchanged(conversation: Conversation, why: &'static str) -> Self {
        ControlOutcome {
            conversation,
            unchanged: Some(why),
        }
    }
}

/// Why a reset had nothing to do.
fn already_reset(target: &Owner) -> &'static str {
    if target.app_id.is_some() {
        "the conversation is already with the bot"
    } else {
        "the conversation is already idle"
    }
}

impl ControlService {
    /// `POST .../control`: the record after the action.
    pub async fn control(
        &self,
        page_id: &str,
        psid: &str,
        request: ControlRequest,
    ) -> Result<ControlOutcome, ControlError> {
        let page = self.page(page_id)?;
        let acting = request.acting.as_deref().unwrap_or("inbox");
        let metadata = request.metadata.as_deref();
        self.check_metadata(metadata)?;
        let current = self.records.load(page_id, psid).await?;
        let owner = current
            .as_ref()
            .map_or_else(Owner::idle, |c| c.owner.clone());
        let changed = match request.action.as_str() {
            action @ ("pass" | "take" | "release") => {
                let target = request.target.as_deref();
                self.move_control(page, psid, action, acting, target, &owner, metadata)
                    .await
            }
            "request" => self.request(page, psid, acting, &owner, metadata).await,
            "reset" => {
                let acting = request.acting.as_deref();
                return self
                    .reset(page, psid, acting, current.as_ref(), metadata)
                    .await;
            }
            "extend" => {
                self.extend(page, psid, acting, &owner, request.duration_secs)
                    .await
            }
            other => Err(ControlError::invalid(
                "bad_action",
                format!("action: {other:?} is not pass, take, release, request, reset or extend"),
            )),
        };
        changed.map(ControlOutcome::changed)
    }

    /// Within Meta's limit once the agent's name is added (see `control_metadata`), and
    /// not one that would read as naming an agent.
    fn check_metadata(&self, metadata: Option<&str>) -> Result<(), ControlError> {
        if metadata.is_some_and(names_an_agent) {
            return Err(ControlError::invalid(
                "bad_metadata",
                "metadata: may not start with \"agent:\" (it names the API token's agent)",
            ));
        }
        let sent = self.control_metadata(metadata);
        if sent.is_some_and(|m| m.chars().count() > MAX_METADATA_CHARS) {
            return Err(ControlError::invalid(
                "bad_metadata",
                "metadata: at most 1000 characters, with the agent's name (agent:<name>) \
                 when an agent acts",
            ));
        }
        Ok(())
    }

    /// Pass, take or release at Meta, then the confirmed change.
    #[allow(clippy::too_many_arguments)]
    async fn move_control(
        &self,
        page: &PagePolicy,
        psid: &str,
        action: &str,
        acting: &str,
        target: Option<&str>,
        owner: &Owner,
        metadata: Option<&str>,
    ) -> Result<Conversation, ControlError> {
        let (app, token) = self.acting_app(page, acting)?;
        let graph = &self.graph;
        let page_id = page.id.as_str();
        let sent = self.control_metadata(metadata);
        let sent = sent.as_deref();
        // The owner the action leads to, its event, and Meta's answer.
        let (to, event, answer) = match action {
            "pass" => {
                let target = Self::target_app(page, target)?;
                if target == app.id {
                    return Err(ControlError::invalid(
                        "bad_target",
                        "target: cannot pass to the acting app itself",
                    ));
                }
                let answer = graph
                    .pass_thread_control(token, page_id, psid, &target, sent)
                    .await;
                let to = Owner::app(&target, page.role_of(&target));
                (to, "pass_thread_control", answer)
            }
            "take" => {
                let answer = graph.take_thread_control(token, page_id, psid, sent).await;
                let to = Owner::app(&app.id, page.role_of(&app.id));
                (to, "take_thread_control", answer)
            }
            _ => {
                let answer = graph
                    .release_thread_control(token, page_id, psid, sent)
                    .await;
                (Owner::idle(), "release_thread_control", answer)
            }
        };
        self.confirmed_change(page, psid, owner, &to, answer)
            .await?;
        self.record_change(page, psid, to, &app.id, event, metadata)
            .await
    }

    /// Ask the owner for control; Meta may already have granted it (its webhook can beat
    /// this write).
    async fn request(
        &self,
        page: &PagePolicy,
        psid: &str,
        acting: &str,
        owner: &Owner,
        metadata: Option<&str>,
    ) -> Result<Conversation, ControlError> {
        let (app, token) = self.acting_app(page, acting)?;
        let sent = self.control_metadata(metadata);
        let answer = self
            .graph
            .request_thread_control(token, &page.id, psid, sent.as_deref())
            .await;
        self.confirmed(&page.id, psid, owner, answer).await?;
        let now = self.records.now();
        let key = change_key("request", now);
        let app_id = app.id.clone();
        let record = self
            .records
            .update(&page.id, psid, |current| {
                let mut next = Transition::successor(current);
                next.state.request_control(&app_id, now);
                next.state.updated_at = now;
                next.timeline.push(TimelineEntry::new(
                    now,
                    &key,
                    Happening::ControlRequest {
                        requested_by: app_id.clone(),
                        metadata: metadata.map(str::to_string),
                    },
                ));
                Some(self.credit(next))
            })
            .await?;
        Ok(record)
    }

    /// Extend the owner's control at Meta by `duration_secs` (at most 7 days), then the
    /// lease.
    async fn extend(
        &self,
        page: &PagePolicy,
        psid: &str,
        acting: &str,
        owner: &Owner,
        duration_secs: Option<u64>,
    ) -> Result<Conversation, ControlError> {
        let duration = duration_secs.ok_or_else(|| {
            ControlError::invalid(
                "missing_duration_secs",
                "duration_secs is required for extend",
            )
        })?;
        if duration == 0 || duration > MAX_RESET_AFTER_SECS {
            return Err(ControlError::invalid(
                "bad_duration_secs",
                "duration_secs: between 1 and 604800 (7 days)",
            ));
        }
        let (app, token) = self.acting_app(page, acting)?;
        let answer = self
            .graph
            .extend_thread_control(token, &page.id, psid, duration)
            .await;
        self.confirmed(&page.id, psid, owner, answer).await?;
        let now = self.records.now();
        let key = change_key("extend", now);
        let app_id = app.id.clone();
        let window = i64::try_from(duration).unwrap_or(0);
        let record = self
            .records
            .update(&page.id, psid, |current| {
                let mut next = Transition::successor(current);
                next.state.renew_lease(now, window);
                next.state.updated_at = now;
                next.timeline.push(TimelineEntry::new(
                    now,
                    &key,
                    Happening::Control {
                        from: current.owner.clone(),
                        to: current.owner.clone(),
                        cause: Cause::Api,
                        actor: Some(app_id.clone()),
                        event: "extend_thread_control".into(),
                        metadata: Some(format!("{duration} s")),
                        late: false,
                    },
                ));
                Some(self.credit(next))
            })
            .await?;
        Ok(record)
    }

    /// The Page's reset action. Nothing to do when the owner already is its target (the
    /// answer says so). Otherwise the owner resets when it is an app we act as (its token,
    /// whoever `as` names); else the acting app (`as`, default the inbox) takes the thread
    /// first, then resets it (the take is the reset when the acting app is its target).
    async fn reset(
        &self,
        page: &PagePolicy,
        psid: &str,
        acting: Option<&str>,
        current: Option<&Conversation>,
        metadata: Option<&str>,
    ) -> Result<ControlOutcome, ControlError> {
        let now = self.records.now();
        let record = current
            .cloned()
            .unwrap_or_else(|| Conversation::new(&page.id, psid, now));
        let (_, target, _) = reset_move(page);
        if record.owner == target {
            return Ok(ControlOutcome::unchanged(record, already_reset(&target)));
        }
        let metadata = metadata.or(Some("reset"));
        let sent = self.control_metadata(metadata);
        if let Some((owner, token)) = self.owner_to_reset(page, &record) {
            let (to, event, answer) =
                perform_reset(&*self.graph, page, psid, token, sent.as_deref()).await;
            self.confirmed_change(page, psid, &record.owner, &to, answer)
                .await?;
            let conversation = self
                .record_change(page, psid, to, &owner.id, event, metadata)
                .await?;
            return Ok(ControlOutcome::changed(conversation));
        }
        let (app, token) = self.acting_app(page, acting.unwrap_or("inbox"))?;
        let taker = Owner::app(&app.id, page.role_of(&app.id));
        let answer = self
            .graph
            .take_thread_control(token, &page.id, psid, sent.as_deref())
            .await;
        self.confirmed_change(page, psid, &record.owner, &taker, answer)
            .await?;
        let taken = self
            .record_change(
                page,
                psid,
                taker.clone(),
                &app.id,
                "take_thread_control",
                metadata,
            )
            .await?;
        if taker == target {
            return Ok(ControlOutcome::changed(taken));
        }
        let (to, event, answer) =
            perform_reset(&*self.graph, page, psid, token, sent.as_deref()).await;
        self.confirmed_change(page, psid, &taker, &to, answer)
            .await?;
        let conversation = self
            .record_change(page, psid, to, &app.id, event, metadata)
            .await?;
        Ok(ControlOutcome::changed(conversation))
    }

    /// The owner, when it is an app we act as (its token) and this handle may act as it:
    /// it resets with its own token.
    fn owner_to_reset(
        &self,
        page: &PagePolicy,
        record: &Conversation,
    ) -> Option<(&AppConfig, &Secret)> {
        let owner = record.owner.app_id.as_deref()?;
        if !self.may_act_as(page, owner) {
            return None;
        }
        self.records.config().app_with_token(owner, &page.id)
    }

    /// Record a change of control Meta confirmed to the API.
    pub(super) async fn record_change(
        &self,
        page: &PagePolicy,
        psid: &str,
        to: Owner,
        actor: &str,
        event: &str,
        metadata: Option<&str>,
    ) -> Result<Conversation, ControlError> {
        let now = self.records.now();
        let key = change_key(event, now);
        let record = self
            .records
            .update(&page.id, psid, |current| {
                let change = ControlChange {
                    to: to.clone(),
                    cause: Cause::Api,
                    actor: Some(actor),
                    event,
                    metadata,
                    at: now,
                    key: key.clone(),
                };
                if current.owner == to
                    && current.version > 0
                    && current.reset_claimed_at.is_none()
                    && !current.lease_expired(now)
                {
                    // Meta's webhook for this change arrived first and is already applied;
                    // the change still outranks every event Meta stamped before it.
                    return confirm_recorded_change(current, &change);
                }
                Some(self.credit(apply_control_change(current, &change, page)))
            })
            .await?;
        Ok(record)
    }
}
