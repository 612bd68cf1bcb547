//! The transition rules (DESIGN §3, "Event rules"): a pure function over
//! (current record, webhook event, Page configuration) that yields the next record and the
//! timeline entries to append, or "nothing changed".
//!
//! Ownership evidence comes in two kinds:
//! - a *claim* that app X held the thread at time t (pass/take events, a customer message
//!   on `messaging`, an echo sent by X);
//! - *standby evidence* that app R did not hold it at time t (a delivery on `standby`, a
//!   take event that does not name the new owner).
//!
//! The owner is the newest claim, ordered by (timestamp, event key); it becomes "some
//! other app" (flagged for re-sync) when there is newer standby evidence against it. Both
//! rules are order-independent, so replaying any permutation or duplication of the same
//! events yields the same owner.

use crate::config::PageConfig;
use crate::domain::{
    ActionKind, Author, Cause, Conversation, EpochMillis, Owner, OwnerRole, RequestedAction,
    TimelineEntry, TimelineRecord,
};
use crate::store::{ConversationWrite, LeaseChange};
use crate::webhook::{Channel, EventKind, WebhookEvent};

/// What the rules need besides the record and the event.
#[derive(Clone, Copy, Debug)]
pub struct EventContext<'a> {
    pub page: &'a PageConfig,
    /// The app the webhook was delivered to (the `{app_id}` in the path).
    pub receiving_app: &'a str,
    /// Used when the event carries no timestamp, and as `updated_at`.
    pub now: EpochMillis,
}

/// The next record and what to append to the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The record before (version 0 when the conversation is new).
    pub expected_version: u64,
    pub state: Conversation,
    pub timeline: Vec<TimelineEntry>,
}

impl Transition {
    /// The store write of this transition, decided on `before` (`None`: nothing stored
    /// yet), its timeline entries kept `timeline_retention_secs` from `now`. The lease item
    /// follows the record's lease; taking or dropping a timed reset's claim rewrites it as
    /// it is, so a lease TTL deleted meanwhile is back in the `leases` index and the sweep
    /// finds it again if that reset never finishes (a crash, a timeout, a Graph outage).
    pub fn into_write(
        self,
        before: Option<&Conversation>,
        timeline_retention_secs: i64,
        now: EpochMillis,
    ) -> ConversationWrite {
        let before_lease = before.and_then(|c| c.control_expires_at);
        let claim_changed = self.state.reset_claimed_at != before.and_then(|c| c.reset_claimed_at);
        let lease = match self.state.control_expires_at {
            Some(due) if claim_changed => LeaseChange::Set { due },
            after => LeaseChange::between(before_lease, after),
        };
        ConversationWrite {
            expected_version: self.expected_version,
            lease,
            state: self.state,
            timeline: self.timeline,
            dedupe_key: None,
            timeline_expires_at: now / 1000 + timeline_retention_secs,
            dedupe_expires_at: 0,
        }
    }

    /// The next version of `current`, not changed yet, with nothing to append.
    pub fn successor(current: &Conversation) -> Self {
        let mut state = current.clone();
        state.version = current.version + 1;
        Transition {
            expected_version: current.version,
            state,
            timeline: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to write (reads, deliveries, Page-level and unknown events, test samples).
    Unchanged,
    Write(Box<Transition>),
}

/// Apply one event. `event_key` is the event's dedupe key (a deterministic tie-break and
/// the basis of timeline keys).
pub fn apply_event(
    current: Option<&Conversation>,
    event: &WebhookEvent,
    event_key: &str,
    ctx: &EventContext<'_>,
) -> Decision {
    let Some(psid) = event.psid.as_deref() else {
        return Decision::Unchanged;
    };
    if event.channel == Channel::DashboardTest {
        return Decision::Unchanged;
    }
    let at = event.timestamp.unwrap_or(ctx.now);
    let mut next = current.cloned().unwrap_or_else(|| {
        let mut fresh = Conversation::new(&event.page_id, psid, ctx.now);
        fresh.last_activity_at = at;
        fresh
    });
    let mut rules = Rules {
        state: &mut next,
        timeline: Vec::new(),
        ctx,
        at,
        key: event_key,
    };
    let receiver = ctx.receiving_app;

    match &event.kind {
        EventKind::Read { .. }
        | EventKind::Delivery { .. }
        | EventKind::AppRoles { .. }
        | EventKind::Unknown { .. } => return Decision::Unchanged,

        EventKind::Message {
            mid,
            text,
            quick_reply_payload,
            attachments,
        } => {
            rules.record_message(
                Author::Customer,
                Some(mid),
                None,
                text.as_deref(),
                quick_reply_payload.as_deref(),
                *attachments,
            );
            rules.customer_activity(event.channel, "message");
            if event.channel == Channel::Messaging {
                rules.trigger(quick_reply_payload.as_deref(), text.as_deref());
            }
        }

        EventKind::Postback {
            mid,
            title,
            payload,
        } => {
            rules.record_postback(
                event.channel,
                mid.as_deref(),
                title.as_deref(),
                payload.as_deref(),
            );
            rules.customer_activity(event.channel, "postback");
            // Standby postbacks carry no payload: they can never trigger.
            if event.channel == Channel::Messaging {
                rules.trigger(payload.as_deref(), None);
            }
        }

        EventKind::Echo {
            mid,
            app_id,
            text,
            attachments,
            ..
        } => {
            let role = app_id
                .as_deref()
                .map_or(OwnerRole::Other, |id| ctx.page.role_of(id));
            let author = Author::for_role(role);
            rules.record_message(
                author,
                Some(mid),
                app_id.as_deref(),
                text.as_deref(),
                None,
                *attachments,
            );
            rules.activity();
            match app_id.as_deref() {
                // Only the owner sends, so the sender held the thread. A human replying in
                // Meta's inbox takes control: expected, not a contradiction.
                Some(sender) => {
                    rules.claim(sender, "echo", None, Cause::Webhook, ClaimKind::Observed);
                }
                None => rules.channel_evidence(event.channel, "echo"),
            }
            if author.is_human_agent() {
                rules.state.unread = false;
                rules.renew_lease();
            }
        }

        EventKind::PassThreadControl {
            previous_owner_app_id,
            new_owner_app_id,
            metadata,
        } => {
            let new_owner = new_owner_app_id.as_deref().unwrap_or(receiver);
            let actor = previous_owner_app_id.as_deref();
            if rules.claim(
                new_owner,
                "pass_thread_control",
                metadata.as_deref(),
                Cause::Webhook,
                ClaimKind::Explicit { actor },
            ) {
                // Passing to an inbox makes the conversation unread; to the bot keeps it read.
                let role = rules.state.owner.role;
                if role.is_human() {
                    rules.state.unread = true;
                } else if role == OwnerRole::Bot {
                    rules.state.unread = false;
                }
            }
        }

        EventKind::TakeThreadControl {
            new_owner_app_id,
            metadata,
            ..
        } => match new_owner_app_id.as_deref() {
            Some(new_owner) => {
                if rules.claim(
                    new_owner,
                    "take_thread_control",
                    metadata.as_deref(),
                    Cause::Webhook,
                    ClaimKind::Explicit {
                        actor: Some(new_owner),
                    },
                ) && rules.state.owner.role == OwnerRole::Bot
                {
                    rules.state.unread = false;
                }
            }
            // Older shape: we only learn that the receiver lost control.
            None => rules.standby(receiver, "take_thread_control", metadata.as_deref(), true),
        },

        EventKind::RequestThreadControl {
            requested_owner_app_id,
            metadata,
        } => {
            let requester = requested_owner_app_id.clone().unwrap_or_default();
            rules.timeline.push(TimelineEntry::new(
                at,
                event_key,
                TimelineRecord::ControlRequest {
                    requested_by: requester.clone(),
                    metadata: metadata.clone(),
                },
            ));
            if rules.state.request_control(&requester, at) {
                // The request is sent to the owner: grant it when the Page allows it.
                if ctx.page.auto_grant_requests && rules.state.owner.is(receiver) {
                    rules.request_action(
                        ActionKind::GrantRequest,
                        Some(requester),
                        "request_thread_control".to_string(),
                    );
                }
            }
        }
    }

    let state = rules.state;
    if let Some(pending) = &state.pending_request {
        if state.owner.is(&pending.app_id) {
            state.pending_request = None;
        }
    }
    let timeline = rules.timeline;
    let expected_version = current.map_or(0, |c| c.version);
    next.updated_at = ctx.now;
    next.version = expected_version + 1;
    Decision::Write(Box::new(Transition {
        expected_version,
        state: next,
        timeline,
    }))
}

#[derive(Clone, Copy)]
enum ClaimKind<'a> {
    /// A handover event naming the app that acted.
    Explicit { actor: Option<&'a str> },
    /// Inferred from a message or an echo. It names the owner with certainty, so a
    /// disagreement with the record corrects it without a re-sync: Meta delivers per app,
    /// and an echo reaching one app often beats the pass event reaching another.
    Observed,
}

struct Rules<'s, 'c> {
    state: &'s mut Conversation,
    timeline: Vec<TimelineEntry>,
    ctx: &'c EventContext<'c>,
    at: EpochMillis,
    key: &'c str,
}

impl Rules<'_, '_> {
    fn owner_for(&self, app_id: &str) -> Owner {
        Owner::app(app_id, self.ctx.page.role_of(app_id))
    }

    fn is_newer_than_last_control_event(&self) -> bool {
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
    fn claim(
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
        if changed {
            self.state.owner = after.clone();
            self.activity();
            self.push_control(before, after, cause, kind, event, metadata, false);
            self.on_owner_changed();
        }
        changed
    }

    /// Apply "app R did not hold the thread at `at`".
    fn standby(&mut self, app_id: &str, event: &str, metadata: Option<&str>, explicit: bool) {
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
        if before.is(app_id) && newer {
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
    fn channel_evidence(&mut self, channel: Channel, event: &str) {
        let receiver = self.ctx.receiving_app;
        match channel {
            Channel::Messaging => {
                self.claim(receiver, event, None, Cause::Webhook, ClaimKind::Observed);
            }
            Channel::Standby => self.standby(receiver, event, None, false),
            Channel::DashboardTest => {}
        }
    }

    fn customer_activity(&mut self, channel: Channel, event: &str) {
        let at = self.at;
        self.state.last_customer_message_at = Some(
            self.state
                .last_customer_message_at
                .map_or(at, |t| t.max(at)),
        );
        self.activity();
        self.channel_evidence(channel, event);
        if self.state.owner.role.is_human() {
            self.state.unread = true;
        }
        self.renew_lease();
    }

    fn activity(&mut self) {
        self.state.last_activity_at = self.state.last_activity_at.max(self.at);
    }

    fn renew_lease(&mut self) {
        self.state.renew_lease(self.at, self.ctx.page.reset_after());
    }

    fn on_owner_changed(&mut self) {
        match self.state.owner.role {
            OwnerRole::Idle => self.state.unread = false,
            OwnerRole::Bot => self.state.unread = false,
            _ => {}
        }
        self.renew_lease();
    }

    #[allow(clippy::too_many_arguments)]
    fn push_control(
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
            TimelineRecord::Control {
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

    fn record_message(
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
    fn record_postback(
        &mut self,
        channel: Channel,
        mid: Option<&str>,
        title: Option<&str>,
        payload: Option<&str>,
    ) {
        let seen = self.state.last_postback_at == Some(self.at);
        self.state.last_postback_at = Some(self.at);
        if seen && channel != Channel::Messaging {
            return;
        }
        self.timeline.push(TimelineEntry {
            at: self.at,
            key: format!("0-postback:{}", self.at),
            record: message_record(Author::Customer, mid, None, title, payload, 0),
        });
    }

    /// Handover / return payloads and handover keywords ask for a Graph action.
    fn trigger(&mut self, payload: Option<&str>, text: Option<&str>) {
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

    fn request_action(&mut self, action: ActionKind, target: Option<String>, source: String) {
        self.state.pending_action = Some(RequestedAction {
            action,
            acting_app_id: self.ctx.receiving_app.to_string(),
            target_app_id: target,
            source: source.clone(),
            at: self.at,
            event_key: self.key.to_string(),
            executing_since: None,
        });
        self.timeline.push(TimelineEntry::new(
            self.at,
            self.key,
            TimelineRecord::ActionRequested { action, source },
        ));
    }
}

/// The first configured keyword that appears as whole words in `text` (case-insensitive).
pub fn matching_keyword<'k>(text: &str, keywords: &'k [String]) -> Option<&'k str> {
    let words = normalise_words(text);
    keywords
        .iter()
        .find(|k| {
            let k = normalise_words(k);
            !k.trim().is_empty() && words.contains(&k)
        })
        .map(String::as_str)
}

/// " word word " (lowercase, single spaces, padded) for whole-word matching.
fn normalise_words(text: &str) -> String {
    let mut out = String::from(" ");
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.push_str(&word.to_lowercase());
        out.push(' ');
    }
    out
}

/// A change of control that Meta confirmed to the control API (or that a timeout or a
/// re-sync decided): applied to the record with its cause and actor.
#[derive(Clone, Debug)]
pub struct ControlChange<'a> {
    /// The new owner (`Owner::idle()` after a release).
    pub to: Owner,
    pub cause: Cause,
    /// The app that acted.
    pub actor: Option<&'a str>,
    /// `pass_thread_control`, `take_thread_control`, `release_thread_control`, ...
    pub event: &'a str,
    pub metadata: Option<&'a str>,
    /// When it happened (moved up to the last control event applied, if that is later).
    pub at: EpochMillis,
    /// Unique key of this change (timeline key and ordering tie-break).
    pub key: String,
}

/// A message's timeline record (customer, agent, bot or other app).
fn message_record(
    author: Author,
    mid: Option<&str>,
    app_id: Option<&str>,
    text: Option<&str>,
    payload: Option<&str>,
    attachments: u32,
) -> TimelineRecord {
    TimelineRecord::Message {
        author,
        mid: mid.map(str::to_string),
        app_id: app_id.map(str::to_string),
        text: text.map(str::to_string),
        payload: payload.map(str::to_string),
        attachments,
    }
}

/// Apply a confirmed change: the owner, unread (a pass to humans makes it unread; a take,
/// a release or a return to the bot makes it read), the lease and the ordering guard.
pub fn apply_control_change(
    current: &Conversation,
    change: &ControlChange<'_>,
    page: &PageConfig,
) -> Transition {
    let Transition {
        expected_version,
        state: mut next,
        ..
    } = Transition::successor(current);
    // Never before a control event already applied: a change Meta confirmed orders after
    // every webhook about the thread, even when this clock lags Meta's.
    let at = change.at.max(current.last_control_event_at.unwrap_or(0));
    let before = next.owner.clone();
    next.owner = change.to.clone();
    next.last_control_event_at = Some(at);
    // Meta stamped every webhook about this change (and the echo of a message sent with
    // it) before it confirmed, so a confirmed change orders after every event of its
    // millisecond: `~` sorts after the event keys, which start with a lowercase kind.
    next.last_control_event_key = Some(format!("~{}", change.key));
    next.last_activity_at = next.last_activity_at.max(at);
    next.updated_at = at;
    next.unread = change.to.role.is_human() && change.event == "pass_thread_control";
    if let Some(pending) = &next.pending_request {
        if next.owner.is(&pending.app_id) {
            next.pending_request = None;
        }
    }
    if before != next.owner {
        // A new owner starts a fresh window (an extended lease does not carry over).
        next.control_expires_at = None;
    }
    next.renew_lease(at, page.reset_after());
    let timeline = vec![TimelineEntry::new(
        at,
        &change.key,
        TimelineRecord::Control {
            from: before,
            to: change.to.clone(),
            cause: change.cause,
            actor: change.actor.map(str::to_string),
            event: change.event.to_string(),
            metadata: change.metadata.map(str::to_string),
            late: false,
        },
    )];
    Transition {
        expected_version,
        state: next,
        timeline,
    }
}
