//! What each kind of webhook event means for the record, in terms of the evidence rules.

use crate::{
    agent_of_metadata, split_agent_metadata, ActionKind, Author, Cause, EventKind, Feed, Happening,
    OwnerRole, TimelineEntry, WebhookEvent,
};

use super::rules::{ClaimKind, Rules};
use crate::AUTOMATIC_MESSAGE_METADATA;

impl Rules<'_, '_> {
    /// Apply one event (kinds that never touch a conversation were filtered out before).
    pub(super) fn apply(&mut self, event: &WebhookEvent) {
        match &event.kind {
            EventKind::Read { .. }
            | EventKind::Delivery { .. }
            | EventKind::AppRoles { .. }
            | EventKind::Unknown { .. } => {}
            EventKind::Message {
                mid,
                text,
                quick_reply_payload,
                attachments,
            } => self.on_message(
                event.feed,
                mid,
                text.as_deref(),
                quick_reply_payload.as_deref(),
                *attachments,
            ),
            EventKind::Postback {
                mid,
                title,
                payload,
            } => self.on_postback(
                event.feed,
                mid.as_deref(),
                title.as_deref(),
                payload.as_deref(),
            ),
            EventKind::Echo {
                mid,
                app_id,
                text,
                metadata,
                attachments,
            } => self.on_echo(
                event.feed,
                mid,
                app_id.as_deref(),
                (text.as_deref(), metadata.as_deref()),
                *attachments,
                metadata.as_deref() == Some(AUTOMATIC_MESSAGE_METADATA),
            ),
            EventKind::SystemMessage { text } => self.on_system_message(event.feed, text),
            kind @ (EventKind::PassThreadControl { .. }
            | EventKind::TakeThreadControl { .. }
            | EventKind::RequestThreadControl { .. }) => self.on_thread_control(kind),
        }
    }

    /// `pass_thread_control`, `take_thread_control` and `request_thread_control`, each
    /// crediting the agent its metadata names.
    fn on_thread_control(&mut self, kind: &EventKind) {
        match kind {
            EventKind::PassThreadControl {
                previous_owner_app_id,
                new_owner_app_id,
                metadata,
            } => self.crediting_agent(metadata.as_deref(), |rules, metadata| {
                rules.on_pass(
                    previous_owner_app_id.as_deref(),
                    new_owner_app_id.as_deref(),
                    metadata,
                )
            }),
            EventKind::TakeThreadControl {
                new_owner_app_id,
                metadata,
                ..
            } => self.crediting_agent(metadata.as_deref(), |rules, metadata| {
                rules.on_take(new_owner_app_id.as_deref(), metadata)
            }),
            EventKind::RequestThreadControl {
                requested_owner_app_id,
                metadata,
            } => self.crediting_agent(metadata.as_deref(), |rules, metadata| {
                rules.on_request(requested_owner_app_id.as_deref(), metadata)
            }),
            _ => {}
        }
    }

    /// A thread-control event whose metadata names the agent who made the call through
    /// the API (see `agent_control_metadata`): applied with the caller's own metadata, and
    /// every entry it writes credits the agent, as the API's own record of it would.
    fn crediting_agent(
        &mut self,
        metadata: Option<&str>,
        apply: impl FnOnce(&mut Self, Option<&str>),
    ) {
        let (agent, metadata) = split_agent_metadata(metadata);
        let written = self.timeline.len();
        apply(self, metadata);
        if let Some(agent) = agent {
            for entry in self.timeline.iter_mut().skip(written) {
                entry.agent = Some(agent.clone());
            }
        }
    }

    /// A customer message: recorded, customer activity, and (on `messaging`) a trigger.
    fn on_message(
        &mut self,
        feed: Feed,
        mid: &str,
        text: Option<&str>,
        quick_reply_payload: Option<&str>,
        attachments: u32,
    ) {
        self.record_message(
            Author::Customer,
            Some(mid),
            None,
            text,
            quick_reply_payload,
            attachments,
        );
        self.customer_activity(feed, "message");
        if feed == Feed::Messaging {
            self.trigger(quick_reply_payload, text);
        }
    }

    /// A postback: recorded, customer activity; standby postbacks carry no payload, so
    /// they can never trigger.
    fn on_postback(
        &mut self,
        feed: Feed,
        mid: Option<&str>,
        title: Option<&str>,
        payload: Option<&str>,
    ) {
        self.record_postback(feed, mid, title, payload);
        self.customer_activity(feed, "postback");
        if feed == Feed::Messaging {
            self.trigger(payload, None);
        }
    }

    /// The echo of a message the Page sent: only the owner sends, so the sender held the
    /// thread. A human replying in Meta's inbox takes control: expected, not a
    /// contradiction. An agent's reply makes the conversation read and renews the lease;
    /// the coordinator's own automatic message (`automatic`: the out-of-hours notice sent
    /// as the inbox app) is no answer. An agent's reply sent through the API names the
    /// agent in its metadata: the entry credits them.
    fn on_echo(
        &mut self,
        feed: Feed,
        mid: &str,
        app_id: Option<&str>,
        (text, metadata): (Option<&str>, Option<&str>),
        attachments: u32,
        automatic: bool,
    ) {
        let role = app_id.map_or(OwnerRole::Other, |id| self.ctx.page.role_of(id));
        let author = Author::for_role(role);
        self.record_message(author, Some(mid), app_id, text, None, attachments);
        if author == Author::Agent {
            if let Some(entry) = self.timeline.last_mut() {
                entry.agent = agent_of_metadata(metadata);
            }
        }
        self.activity();
        match app_id {
            Some(sender) => {
                self.claim(sender, "echo", None, Cause::Webhook, ClaimKind::Observed);
            }
            None => self.feed_evidence(feed, "echo"),
        }
        if author.is_human_agent() && !automatic {
            self.state.note_answered(self.at);
            self.renew_lease();
        }
    }

    /// A message Meta wrote itself (no `mid`): on the timeline; it often comes with a
    /// change of control Meta names to nobody, so the conversation is flagged for re-sync.
    fn on_system_message(&mut self, feed: Feed, text: &Option<String>) {
        self.timeline.push(TimelineEntry::new(
            self.at,
            self.key,
            Happening::System {
                event: format!("message ({})", feed.as_str()),
                text: text.clone(),
            },
        ));
        self.state.needs_resync = true;
    }

    /// `pass_thread_control`: the new owner (the receiver when unnamed) claims the thread.
    /// Passing to humans is a hand-over (unread until an agent answers); to the bot, read.
    fn on_pass(&mut self, previous: Option<&str>, new_owner: Option<&str>, metadata: Option<&str>) {
        let new_owner = new_owner.unwrap_or(self.ctx.receiving_app);
        let kind = ClaimKind::Explicit { actor: previous };
        self.claim(
            new_owner,
            "pass_thread_control",
            metadata,
            Cause::Webhook,
            kind,
        );
        // A hand-over to humans is a fact whether or not it still names the owner: unread
        // compares it with the answers, whatever order they arrived in.
        if self.ctx.page.role_of(new_owner).is_human() {
            self.state.note_handover_to_humans(self.at);
        }
    }

    /// `take_thread_control`: the taker claims the thread; the older shape, which names no
    /// new owner, only tells that the receiver lost control.
    fn on_take(&mut self, new_owner: Option<&str>, metadata: Option<&str>) {
        let event = "take_thread_control";
        let Some(new_owner) = new_owner else {
            let receiver = self.ctx.receiving_app;
            self.standby(receiver, event, metadata, true);
            return;
        };
        let kind = ClaimKind::Explicit {
            actor: Some(new_owner),
        };
        self.claim(new_owner, event, metadata, Cause::Webhook, kind);
        self.state.derive_unread();
    }

    /// `request_thread_control`: recorded; the request is sent to the owner, which grants
    /// it when the Page allows it.
    fn on_request(&mut self, requester: Option<&str>, metadata: Option<&str>) {
        let requester = requester.unwrap_or_default().to_string();
        self.timeline.push(TimelineEntry::new(
            self.at,
            self.key,
            Happening::ControlRequest {
                requested_by: requester.clone(),
                metadata: metadata.map(str::to_string),
            },
        ));
        let open = self.state.request_control(&requester, self.at);
        if open && self.ctx.page.auto_grant_requests && self.state.owner.is(self.ctx.receiving_app)
        {
            self.request_action(
                ActionKind::GrantRequest,
                Some(requester),
                "request_thread_control".to_string(),
            );
        }
    }
}
