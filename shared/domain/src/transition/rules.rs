//! The evidence rules every event kind is built from: claims, standby evidence, customer
//! activity, timeline entries and trigger actions.

use crate::{
    ActionKind, Author, Cause, Conversation, EpochMillis, Feed, Happening, Owner, OwnerRole,
    RequestedAction, TimelineEntry,
};

use super::keywords::matching_keyword;
use super::EventContext;

#[derive(Clone, Copy)]
pub(super) enum ClaimKind<'a> {
    /// A handover event naming the app that acted.
    Explicit { actor: Option<&'a str> },
    /// Inferred from a message or an echo. It names the owner with certainty, so a
    /// disagreement with the record corrects it without a re-sync: Meta delivers per app,
    /// and an echo reaching one app often beats the pass event reaching another.
    Observed,
}

/// One event's rules at work on the next record: the record, the entries to append, and
/// the event's time and key.
pub(super) struct Rules<'s, 'c> {
    pub(super) state: &'s mut Conversation,
    pub(super) timeline: Vec<TimelineEntry>,
    pub(super) ctx: &'c EventContext<'c>,
    pub(super) at: EpochMillis,
    pub(super) key: &'c str,
}

impl Rules<'_, '_> {
    /// The entries to append; a request for control the new owner made is answered.
    pub(super) fn finish(self) -> Vec<TimelineEntry> {
        self.state.settle_request();
        self.timeline
    }

    pub(super) fn owner_for(&self, app_id: &str) -> Owner {
        Owner::app(app_id, self.ctx.page.role_of(app_id))
    }

    pub(super) fn is_newer_than_last_control_event(&self) -> bool {
        match (
            self.state.last_control_event_at,
            self.state.last_control_event_key.as_deref(),
        ) {
            (None, _) => true,
            (Some(last_at), last_key) => {
                (self.at, self.key) >= (last_at, last_key.unwrap_or_default())
            }
        }
    }

    /// Apply "app X held the thread at `at`". Returns whether the owner changed.
    pub(super) fn claim(
        &mut self,
        app_id: &str,
        event: &str,
        metadata: Option<&str>,
        cause: Cause,
        kind: ClaimKind<'_>,
    ) -> bool {
        let explicit = matches!(kind, ClaimKind::Explicit { .. });
        let before = self.state.owner.clone();
        if !self.is_newer_than_last_control_event() {
            // A late event that agrees with the record (often Meta's confirmation of an
            // action the control API already recorded) adds nothing.
            if explicit && !before.is(app_id) {
                self.push_control(before.clone(), before, cause, kind, event, metadata, true);
            }
            return false;
        }
        self.state.last_control_event_at = Some(self.at);
        self.state.last_control_event_key = Some(self.key.to_string());
        let mut after = self.owner_for(app_id);
        if self
            .state
            .standby_seen_at
            .get(app_id)
            .is_some_and(|&seen| seen > self.at)
        {
            // A newer standby delivery proves the claimed app lost control since.
            after = Owner::unknown_other();
            self.state.needs_resync = true;
        }
        let changed = after != before;
        let named = matches!(kind, ClaimKind::Observed) && after.app_id.is_some();
        if changed && named && before == Owner::unknown_other() {
            // The app standby evidence could not name is named now, with certainty.
            self.state.needs_resync = self.state.pending_action.is_some();
        }
        if changed {
            self.state.owner = after.clone();
            self.activity();
            self.push_control(before, after, cause, kind, event, metadata, false);
            self.on_owner_changed();
        }
        changed
    }

    /// Apply "app R did not hold the thread at `at`": a record naming R, or nobody (a
    /// customer who wrote on `standby` is in a thread someone holds; a thread Meta idled
    /// counts as nobody's), now names "some other app", flagged for the re-sync to name it.
    pub(super) fn standby(
        &mut self,
        app_id: &str,
        event: &str,
        metadata: Option<&str>,
        explicit: bool,
    ) {
        let seen = self
            .state
            .standby_seen_at
            .entry(app_id.to_string())
            .or_insert(self.at);
        *seen = (*seen).max(self.at);
        let newer = self
            .state
            .last_control_event_at
            .is_none_or(|last| self.at > last);
        let before = self.state.owner.clone();
        // Against R, or against "nobody" (also a thread Meta has idled since): the thread
        // is held, and not by R.
        let contradicted = before.is(app_id) || self.state.idle_at_meta(self.at);
        if contradicted && newer {
            self.state.owner = Owner::unknown_other();
            self.state.needs_resync = true;
            self.activity();
            self.push_control(
                before,
                Owner::unknown_other(),
                Cause::Webhook,
                ClaimKind::Observed,
                event,
                metadata,
                false,
            );
            self.on_owner_changed();
        } else if explicit {
            let late = !newer;
            self.push_control(
                before.clone(),
                before,
                Cause::Webhook,
                ClaimKind::Explicit { actor: None },
                event,
                metadata,
                late,
            );
        }
    }

    /// A customer message or postback: `messaging` proves the receiver owns the thread,
    /// `standby` that it does not.
    pub(super) fn feed_evidence(&mut self, feed: Feed, event: &str) {
        let receiver = self.ctx.receiving_app;
        match feed {
            Feed::Messaging => {
                self.claim(receiver, event, None, Cause::Webhook, ClaimKind::Observed);
            }
            Feed::Standby => self.standby(receiver, event, None, false),
            Feed::DashboardTest => {}
        }
    }

    pub(super) fn customer_activity(&mut self, feed: Feed, event: &str) {
        self.activity();
        match self.default_app_answering(feed) {
            Some(default_app) => self.default_app_answers(&default_app, event),
            None => self.feed_evidence(feed, event),
        }
        self.state.note_customer_message(self.at);
        self.renew_lease();
    }

    /// A customer wrote on `standby` to R while the record is idle (or Meta has idled the
    /// thread since): Meta gave the thread to the Page's default app, which is named when it
    /// is ours, is not R, and no standby delivery to it at or after this message says
    /// otherwise. `None`: the standby rule alone ("some other app").
    fn default_app_answering(&self, feed: Feed) -> Option<String> {
        let default_app = self.ctx.page.own_default_app.as_deref()?;
        let state = &*self.state;
        let answering = feed == Feed::Standby
            && default_app != self.ctx.receiving_app
            && state
                .last_control_event_at
                .is_none_or(|last| self.at > last)
            && state.idle_at_meta(self.at)
            && state
                .standby_seen_at
                .get(default_app)
                .is_none_or(|&seen| seen < self.at);
        answering.then(|| default_app.to_string())
    }

    /// The default app holds the thread the customer wrote to: the receiver's standby
    /// delivery is noted (it still counts against the receiver), the default app named.
    fn default_app_answers(&mut self, default_app: &str, event: &str) {
        let receiver = self.ctx.receiving_app.to_string();
        let seen = self
            .state
            .standby_seen_at
            .entry(receiver)
            .or_insert(self.at);
        *seen = (*seen).max(self.at);
        let before = self.state.owner.clone();
        let after = self.owner_for(default_app);
        if before == after {
            return;
        }
        self.state.owner = after.clone();
        self.push_control(
            before,
            after,
            Cause::Webhook,
            ClaimKind::Observed,
            event,
            None,
            false,
        );
        self.on_owner_changed();
    }

    pub(super) fn activity(&mut self) {
        self.state.last_activity_at = self.state.last_activity_at.max(self.at);
    }

    pub(super) fn renew_lease(&mut self) {
        self.state.renew_lease(self.at, self.ctx.page.reset_after());
    }

    /// A new owner: unread follows the facts, and a fresh window starts (an extension
    /// granted to the previous owner does not carry over).
    pub(super) fn on_owner_changed(&mut self) {
        self.state.derive_unread();
        self.state.start_lease(self.at, self.ctx.page.reset_after());
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_control(
        &mut self,
        from: Owner,
        to: Owner,
        cause: Cause,
        kind: ClaimKind<'_>,
        event: &str,
        metadata: Option<&str>,
        late: bool,
    ) {
        let actor = match kind {
            ClaimKind::Explicit { actor } => actor.map(str::to_string),
            ClaimKind::Observed => to.app_id.clone(),
        };
        self.timeline.push(TimelineEntry::new(
            self.at,
            self.key,
            Happening::Control {
                from,
                to,
                cause,
                actor,
                event: event.to_string(),
                metadata: metadata.map(str::to_string),
                late,
            },
        ));
    }

    pub(super) fn record_message(
        &mut self,
        author: Author,
        mid: Option<&str>,
        app_id: Option<&str>,
        text: Option<&str>,
        payload: Option<&str>,
        attachments: u32,
    ) {
        // Keyed by mid alone: the `messaging` and `standby` copies of one message (delivered
        // to two of our apps) become one timeline entry.
        let record = message_record(author, mid, app_id, text, payload, attachments);
        let entry = TimelineEntry::new(self.at, mid.unwrap_or(self.key), record);
        self.timeline.push(entry);
    }

    /// Postbacks: the `standby` copy has neither payload nor mid, so both copies are keyed
    /// by time; the richer `messaging` copy overwrites a standby one, never the reverse.
    pub(super) fn record_postback(
        &mut self,
        feed: Feed,
        mid: Option<&str>,
        title: Option<&str>,
        payload: Option<&str>,
    ) {
        let seen = self.state.last_postback_at == Some(self.at);
        self.state.last_postback_at = Some(self.at);
        if seen && feed != Feed::Messaging {
            return;
        }
        self.timeline.push(TimelineEntry {
            at: self.at,
            key: format!("0-postback:{}", self.at),
            agent: None,
            record: message_record(Author::Customer, mid, None, title, payload, 0),
        });
    }

    /// Handover / return payloads and handover keywords ask for a Graph action.
    pub(super) fn trigger(&mut self, payload: Option<&str>, text: Option<&str>) {
        let page = self.ctx.page;
        let found = payload
            .and_then(|p| {
                if page.handover_payloads.iter().any(|h| h == p) {
                    Some((ActionKind::PassToInbox, format!("payload:{p}")))
                } else if page.return_payloads.iter().any(|r| r == p) {
                    Some((ActionKind::PassToBot, format!("payload:{p}")))
                } else {
                    None
                }
            })
            .or_else(|| {
                text.and_then(|t| matching_keyword(t, &page.handover_keywords))
                    .map(|k| (ActionKind::PassToInbox, format!("keyword:{k}")))
            });
        let Some((action, source)) = found else {
            return;
        };
        let role = self.state.owner.role;
        let (needed, target) = match action {
            ActionKind::PassToInbox => (!role.is_human(), page.inbox_app_id.clone()),
            _ => (role != OwnerRole::Bot, page.bot_app_id.clone()),
        };
        if needed {
            self.request_action(action, Some(target), source);
        }
    }

    pub(super) fn request_action(
        &mut self,
        action: ActionKind,
        target: Option<String>,
        source: String,
    ) {
        let flagged = !self.state.needs_resync;
        self.state.needs_resync = true;
        self.state.pending_action = Some(RequestedAction {
            action,
            acting_app_id: self.ctx.receiving_app.to_string(),
            target_app_id: target,
            source: source.clone(),
            at: self.at,
            event_key: self.key.to_string(),
            executing_since: None,
            flagged,
        });
        self.timeline.push(TimelineEntry::new(
            self.at,
            self.key,
            Happening::ActionRequested { action, source },
        ));
    }
}

/// A message's timeline record (customer, agent, bot or other app).
fn message_record(
    author: Author,
    mid: Option<&str>,
    app_id: Option<&str>,
    text: Option<&str>,
    payload: Option<&str>,
    attachments: u32,
) -> Happening {
    Happening::Message {
        author,
        mid: mid.map(str::to_string),
        app_id: app_id.map(str::to_string),
        text: text.map(str::to_string),
        payload: payload.map(str::to_string),
        attachments,
    }
}
