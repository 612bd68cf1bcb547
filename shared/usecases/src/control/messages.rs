//! `POST .../messages`: an agent (or the bot) writes to the customer, within Meta's
//! windows, never the bot over a human, optionally taking control first and resetting
//! after.

use serde::Deserialize;

use super::{
    ControlError, ControlService, HUMAN_AGENT_WINDOW_MS, MAX_TEXT_CHARS, RESPONSE_WINDOW_MS,
};
use crate::config::{AppConfig, PagePolicy, ResetAction, Secret};
use crate::page_reset::reset_move;
use crate::ports::{MessagingType, OutgoingMessage, ThreadControl};
use crate::records::change_key;
use routing_domain::transition::{apply_control_change, ControlChange, Transition};
use routing_domain::{agent_metadata, Author, Cause, Conversation, EpochMillis, Owner, OwnerRole};

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

/// A message Meta accepted, and the record afterwards.
#[derive(Clone, Debug)]
pub struct MessageOutcome {
    pub message_id: String,
    pub messaging_type: MessagingType,
    pub conversation: Conversation,
}

/// The reset a message carries (`reset_after`): the thread control, the owner it leads to
/// and the event's name.
type CarriedReset = (ThreadControl, Owner, &'static str);

impl ControlService {
    /// `POST .../messages`: an agent (or the bot) writes to the customer.
    pub async fn send_message(
        &self,
        page_id: &str,
        psid: &str,
        request: MessageRequest,
    ) -> Result<MessageOutcome, ControlError> {
        let page = self.page(page_id)?;
        check_text(&request.text)?;
        let (app, token) = self.acting_app(page, request.acting.as_deref().unwrap_or("inbox"))?;
        let role = page.role_of(&app.id);
        let why = ": the customer has not written";
        let record = self.stored(page_id, psid, why).await?;
        let now = self.records.now();
        let messaging_type = messaging_type(&record, role, now)?;
        if role == OwnerRole::Bot && owner_is_live_other(&record, &app.id, now) {
            return Err(ControlError::BotMayNotSpeak {
                owner: record.owner.clone(),
            });
        }
        // The record as this call last read or wrote it.
        let latest = if request.take_control && !holds_live_control(&record, &app.id, now) {
            self.take_to_reply(page, psid, &record.owner, app, token)
                .await?
        } else {
            record.clone()
        };
        // Passing to the bot, by the bot itself, is nothing to do.
        let bot_passes_to_itself =
            page.reset_action == ResetAction::PassToBot && app.id == page.bot_app_id;
        let reset = (request.reset_after && !bot_passes_to_itself).then(|| reset_move(page));
        let outgoing = OutgoingMessage {
            text: request.text.clone(),
            messaging_type,
            metadata: self.agent.as_deref().map(agent_metadata),
            thread_control: reset.as_ref().map(|(control, _, _)| control.clone()),
        };
        let answer = self
            .graph
            .send_message(token, page_id, psid, &outgoing)
            .await;
        let sent = self.confirmed(page_id, psid, &record.owner, answer).await?;
        let author = Author::for_role(role);
        let record = self
            .record_sent(page, latest, &app.id, author, reset)
            .await?;
        Ok(MessageOutcome {
            message_id: sent.message_id,
            messaging_type,
            conversation: record,
        })
    }

    /// "Take over by sending": take control at Meta, then record it.
    async fn take_to_reply(
        &self,
        page: &PagePolicy,
        psid: &str,
        owner: &Owner,
        app: &AppConfig,
        token: &Secret,
    ) -> Result<Conversation, ControlError> {
        let metadata = Some("agent reply");
        let sent = self.control_metadata(metadata);
        let answer = self
            .graph
            .take_thread_control(token, &page.id, psid, sent.as_deref())
            .await;
        let to = Owner::app(&app.id, page.role_of(&app.id));
        self.confirmed_change(page, psid, owner, &to, answer)
            .await?;
        self.record_change(page, psid, to, &app.id, "take_thread_control", metadata)
            .await
    }

    /// After Meta accepted the message: the carried reset, or the activity (an agent's
    /// reply makes it read and renews the lease). The message itself enters the timeline
    /// through its echo webhook (Meta echoes every send to every subscribed app), keyed by
    /// its mid.
    async fn record_sent(
        &self,
        page: &PagePolicy,
        latest: Conversation,
        app_id: &str,
        author: Author,
        reset: Option<CarriedReset>,
    ) -> Result<Conversation, ControlError> {
        let sent_at = self.records.now();
        let control_key = change_key("send", sent_at);
        let (page_id, psid) = (latest.page_id.clone(), latest.psid.clone());
        let record = self
            .records
            .update_from(&page_id, &psid, Some(latest), |current| {
                let transition = match &reset {
                    Some((_, to, event)) => {
                        let change = ControlChange {
                            to: to.clone(),
                            cause: Cause::Api,
                            actor: Some(app_id),
                            event,
                            metadata: Some("reset after message"),
                            at: sent_at,
                            key: control_key.clone(),
                        };
                        apply_control_change(current, &change, page)
                    }
                    None => activity(current, page, author, sent_at),
                };
                Some(self.credit(transition))
            })
            .await?;
        Ok(record)
    }
}

/// Not empty, and within Meta's limit.
fn check_text(text: &str) -> Result<(), ControlError> {
    if text.trim().is_empty() {
        return Err(ControlError::invalid("bad_text", "text: must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ControlError::invalid(
            "bad_text",
            format!("text: at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Meta's windows: within 24 h of the customer's last message anyone may answer; up to 7
/// days a human may, with the `HUMAN_AGENT` tag; after that nobody.
fn messaging_type(
    record: &Conversation,
    role: OwnerRole,
    now: EpochMillis,
) -> Result<MessagingType, ControlError> {
    let Some(last) = record.last_customer_message_at else {
        return Err(ControlError::WindowClosed(
            "the customer has not written; Meta allows no message",
        ));
    };
    let age = now - last;
    if age <= RESPONSE_WINDOW_MS {
        Ok(MessagingType::Response)
    } else if age <= HUMAN_AGENT_WINDOW_MS && role != OwnerRole::Bot {
        Ok(MessagingType::HumanAgent)
    } else if role == OwnerRole::Bot {
        Err(ControlError::WindowClosed(
            "more than 24 h since the customer's last message: the bot may not write",
        ))
    } else {
        Err(ControlError::WindowClosed(
            "more than 7 days since the customer's last message",
        ))
    }
}

/// The acting app holds the thread and Meta cannot have taken it back: the record names
/// it, its lease runs, and the customer wrote within 24 h (Meta idles a thread after 24 h
/// without a customer message). Otherwise "take over by sending" takes first.
fn holds_live_control(record: &Conversation, app_id: &str, now: EpochMillis) -> bool {
    let customer_recent = record
        .last_customer_message_at
        .is_some_and(|at| now - at <= RESPONSE_WINDOW_MS);
    record.owner.is(app_id) && !record.lease_expired(now) && customer_recent
}

/// Another app holds the thread (one we can name, or one Meta would not name to us) and
/// its control has not run out.
fn owner_is_live_other(record: &Conversation, app_id: &str, now: EpochMillis) -> bool {
    let live = record.owner.role != OwnerRole::Idle && !record.lease_expired(now);
    live && !record.owner.is(app_id)
}

/// A message sent without a change of control: activity; an agent's reply makes the
/// conversation read and renews the lease.
fn activity(
    current: &Conversation,
    page: &PagePolicy,
    author: Author,
    at: EpochMillis,
) -> Transition {
    let mut next = Transition::successor(current);
    let state = &mut next.state;
    state.updated_at = at;
    state.last_activity_at = state.last_activity_at.max(at);
    if author.is_human_agent() {
        state.note_answered(at);
        state.renew_lease(at, page.reset_after());
    }
    next
}
