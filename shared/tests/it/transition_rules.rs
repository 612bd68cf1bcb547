//! The event rules of docs/architecture.md §4, one test per rule, on the pure transition function; and a
//! property test: any permutation or duplication of the same events gives the same owner.

use proptest::prelude::*;
use routing_core::meta::webhook::parse_webhook;
use routing_domain::transition::{
    apply_control_change, apply_event, confirm_recorded_change, matching_keyword, ControlChange,
    Decision, EventContext,
};
use routing_domain::WebhookEvent;
use routing_domain::{
    agent_metadata, ActionKind, Author, Cause, Conversation, Happening, Owner, OwnerRole,
    PAGE_INBOX_APP_ID,
};
use routing_usecases::config::PagePolicy;
use routing_usecases::testing::*;
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000;
const WINDOW: i64 = 86_400;

fn page() -> PagePolicy {
    config().page(PAGE).cloned().expect("page")
}

fn event(list: &str, value: Value) -> WebhookEvent {
    let mut parsed = parse_webhook(&bytes(&envelope(list, vec![value]))).expect("parses");
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    parsed.events.remove(0)
}

/// Apply and return the decision.
fn decide(current: Option<&Conversation>, receiver: &str, e: &WebhookEvent) -> Decision {
    decide_with(&page(), T0 + 3_600_000, current, receiver, e)
}

/// `decide` with the Page's configuration `page`, at `now`.
fn decide_with(
    page: &PagePolicy,
    now: i64,
    current: Option<&Conversation>,
    receiver: &str,
    e: &WebhookEvent,
) -> Decision {
    let ctx = EventContext {
        page,
        receiving_app: receiver,
        now,
    };
    apply_event(current, e, &e.applied_key(receiver), &ctx)
}

/// Apply and return the next record with what it appended.
fn step(
    current: Option<&Conversation>,
    receiver: &str,
    list: &str,
    value: Value,
) -> (Conversation, Vec<Happening>) {
    match decide(current, receiver, &event(list, value)) {
        Decision::Write(t) => (t.state, t.timeline.into_iter().map(|e| e.record).collect()),
        Decision::Unchanged => panic!("expected a write"),
    }
}

fn owned_by(app: &str) -> Conversation {
    step(None, app, "messaging", message("u", T0, "m-own", "hi")).0
}

/// A new conversation, passed by the bot to the inbox at `at`.
fn passed_to_inbox(at: i64) -> Conversation {
    step(None, INBOX, "messaging", pass("u", at, Some(BOT), INBOX)).0
}

fn control_changes(timeline: &[Happening]) -> Vec<(Owner, Owner, bool)> {
    timeline
        .iter()
        .filter_map(|r| match r {
            Happening::Control { from, to, late, .. } => Some((from.clone(), to.clone(), *late)),
            _ => None,
        })
        .collect()
}

// ---- pass_thread_control ------------------------------------------------------------------

#[test]
fn pass_to_the_inbox_makes_it_unread_and_starts_a_lease() {
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        INBOX,
        "messaging",
        pass("u", T0 + 1000, Some(BOT), INBOX),
    );
    assert_eq!(next.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(next.unread);
    assert_eq!(next.control_expires_at, Some((T0 + 1000) / 1000 + WINDOW));
    assert_eq!(next.version, bot.version + 1);
    assert!(!next.needs_resync);
    match &timeline[0] {
        Happening::Control {
            from,
            to,
            cause,
            actor,
            event,
            metadata,
            late,
        } => {
            assert_eq!(from.role, OwnerRole::Bot);
            assert_eq!(to.role, OwnerRole::Inbox);
            assert_eq!(*cause, Cause::Webhook);
            assert_eq!(actor.as_deref(), Some(BOT));
            assert_eq!(event, "pass_thread_control");
            assert_eq!(metadata.as_deref(), Some("handover"));
            assert!(!late);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pass_without_new_owner_means_the_receiver() {
    let v = json!({"sender":{"id":"u"},"recipient":{"id":PAGE},"timestamp":T0,
                   "pass_thread_control":{"metadata":"old shape"}});
    let (next, _) = step(None, INBOX, "messaging", v);
    assert_eq!(next.owner, Owner::app(INBOX, OwnerRole::Inbox));
}

#[test]
fn pass_to_the_bot_keeps_it_read_and_ends_the_lease() {
    let inbox = passed_to_inbox(T0);
    assert!(inbox.unread && inbox.control_expires_at.is_some());
    let (bot, _) = step(
        Some(&inbox),
        BOT,
        "messaging",
        pass("u", T0 + 10, Some(INBOX), BOT),
    );
    assert_eq!(bot.owner.role, OwnerRole::Bot);
    assert!(!bot.unread);
    assert_eq!(bot.control_expires_at, None);
}

#[test]
fn pass_to_meta_page_inbox_is_a_human_role_with_a_lease() {
    let (next, _) = step(
        None,
        BOT,
        "messaging",
        pass("u", T0, Some(BOT), PAGE_INBOX_APP_ID),
    );
    assert_eq!(
        next.owner,
        Owner::app(PAGE_INBOX_APP_ID, OwnerRole::PageInbox)
    );
    assert!(next.unread);
    assert!(next.control_expires_at.is_some());
}

#[test]
fn pass_to_an_unknown_app_is_role_other_with_a_lease() {
    let (next, _) = step(None, BOT, "messaging", pass("u", T0, Some(BOT), OTHER_APP));
    assert_eq!(next.owner, Owner::app(OTHER_APP, OwnerRole::Other));
    assert!(!next.unread);
    assert!(next.control_expires_at.is_some());
}

// ---- take_thread_control ------------------------------------------------------------------

#[test]
fn take_names_the_new_owner() {
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        BOT,
        "messaging",
        take("u", T0 + 5, BOT, Some(INBOX)),
    );
    assert_eq!(next.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(!next.needs_resync);
    assert_eq!(control_changes(&timeline).len(), 1);
}

#[test]
fn take_in_the_old_shape_means_some_other_app_and_flags_resync() {
    let bot = owned_by(BOT);
    let (next, _) = step(Some(&bot), BOT, "messaging", take("u", T0 + 5, BOT, None));
    assert_eq!(next.owner, Owner::unknown_other());
    assert!(next.needs_resync);
    assert!(
        next.control_expires_at.is_some(),
        "away from the bot: a lease runs"
    );
}

#[test]
fn take_back_by_the_bot_clears_unread() {
    let inbox = passed_to_inbox(T0);
    let (next, _) = step(
        Some(&inbox),
        INBOX,
        "messaging",
        take("u", T0 + 5, INBOX, Some(BOT)),
    );
    assert_eq!(next.owner.role, OwnerRole::Bot);
    assert!(!next.unread);
    assert_eq!(next.control_expires_at, None);
}

// ---- request_thread_control ---------------------------------------------------------------

#[test]
fn a_request_to_the_owner_is_pending_and_granted_when_the_page_allows() {
    let inbox = passed_to_inbox(T0);
    let (next, timeline) = step(Some(&inbox), INBOX, "messaging", request("u", T0 + 5, BOT));
    assert_eq!(
        next.pending_request.as_ref().map(|p| p.app_id.as_str()),
        Some(BOT)
    );
    let action = next.pending_action.expect("grant requested");
    assert_eq!(action.action, ActionKind::GrantRequest);
    assert_eq!(action.acting_app_id, INBOX);
    assert_eq!(action.target_app_id.as_deref(), Some(BOT));
    assert_eq!(
        next.owner, inbox.owner,
        "the owner changes only when Meta confirms"
    );
    assert!(timeline.iter().any(
        |r| matches!(r, Happening::ControlRequest { requested_by, .. } if requested_by == BOT)
    ));
}

#[test]
fn a_request_is_not_granted_when_the_page_does_not_allow_it() {
    let mut page = page();
    page.auto_grant_requests = false;
    let inbox = passed_to_inbox(T0);
    let e = event("messaging", request("u", T0 + 5, BOT));
    let Decision::Write(t) = decide_with(&page, T0, Some(&inbox), INBOX, &e) else {
        panic!("expected a write");
    };
    assert!(t.state.pending_request.is_some());
    assert!(t.state.pending_action.is_none());
}

#[test]
fn a_pending_request_clears_when_the_requester_gets_control() {
    let inbox = passed_to_inbox(T0);
    let requested = step(Some(&inbox), INBOX, "messaging", request("u", T0 + 5, BOT)).0;
    let (next, _) = step(
        Some(&requested),
        BOT,
        "messaging",
        pass("u", T0 + 9, Some(INBOX), BOT),
    );
    assert!(next.pending_request.is_none());
}

// ---- customer messages --------------------------------------------------------------------

#[test]
fn a_message_on_messaging_makes_the_receiver_owner_of_an_idle_thread() {
    let (next, timeline) = step(None, BOT, "messaging", message("u", T0, "m1", "hello"));
    assert_eq!(next.owner, Owner::app(BOT, OwnerRole::Bot));
    assert!(!next.needs_resync, "the idle rule is not a contradiction");
    assert_eq!(next.last_customer_message_at, Some(T0));
    assert_eq!(next.control_expires_at, None);
    assert!(timeline.iter().any(|r| matches!(r,
        Happening::Message { author: Author::Customer, text: Some(t), .. } if t == "hello")));
}

#[test]
fn a_message_contradicting_the_record_corrects_it_without_a_resync() {
    // Positive evidence names the owner with certainty: no Graph call is needed.
    let inbox = passed_to_inbox(T0);
    let (next, timeline) = step(
        Some(&inbox),
        BOT,
        "messaging",
        message("u", T0 + 10, "m2", "hi"),
    );
    assert_eq!(next.owner.role, OwnerRole::Bot);
    assert!(!next.needs_resync);
    assert_eq!(next.control_expires_at, None);
    assert!(!next.unread);
    assert_eq!(
        control_changes(&timeline),
        vec![(inbox.owner.clone(), Owner::app(BOT, OwnerRole::Bot), false)]
    );
}

#[test]
fn an_agents_reply_names_the_agent_its_metadata_names_and_no_other_echo_does() {
    let entry_of = |app: &str, metadata: Option<&str>| {
        let mut value = echo("u", T0 + 300, "e7", app, "hi");
        if let Some(metadata) = metadata {
            value["message"]["metadata"] = json!(metadata);
        }
        match decide(Some(&passed_to_inbox(T0)), BOT, &event("standby", value)) {
            Decision::Write(t) => t.timeline.into_iter().next().expect("the message entry"),
            Decision::Unchanged => panic!("expected a write"),
        }
    };
    let entry = entry_of(INBOX, Some(&agent_metadata("Sam")));
    assert!(
        matches!(entry.record, Happening::Message { .. }),
        "{entry:?}"
    );
    assert_eq!(entry.agent.as_deref(), Some("Sam"));
    // Other metadata, none, or the bot's own metadata name nobody.
    assert_eq!(entry_of(INBOX, Some("agent reply")).agent, None);
    assert_eq!(entry_of(INBOX, Some("agent:")).agent, None);
    assert_eq!(entry_of(INBOX, None).agent, None);
    assert_eq!(entry_of(BOT, Some(&agent_metadata("Sam"))).agent, None);
}

#[test]
fn an_agent_echo_that_beats_the_pass_event_needs_no_resync() {
    // Meta delivers per app: the agent's echo reaches the bot (standby) before the pass
    // event reaches the inbox.
    let bot = owned_by(BOT);
    let (echoed, _) = step(
        Some(&bot),
        BOT,
        "standby",
        echo("u", T0 + 300, "e9", INBOX, "hi"),
    );
    assert_eq!(echoed.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(!echoed.needs_resync);
    let (next, timeline) = step(
        Some(&echoed),
        INBOX,
        "messaging",
        pass("u", T0 + 200, Some(BOT), INBOX),
    );
    assert_eq!(next.owner, echoed.owner);
    assert!(!next.needs_resync);
    assert!(
        control_changes(&timeline).is_empty(),
        "a late event that agrees with the record adds nothing"
    );
}

#[test]
fn a_message_after_the_lease_expired_is_the_idle_rule_not_a_contradiction() {
    let inbox = passed_to_inbox(T0);
    let later = T0 + (WINDOW + 60) * 1000;
    let (next, _) = step(
        Some(&inbox),
        BOT,
        "messaging",
        message("u", later, "m3", "back"),
    );
    assert_eq!(next.owner.role, OwnerRole::Bot);
    assert!(!next.needs_resync);
}

#[test]
fn a_standby_message_for_the_recorded_owner_flags_resync() {
    let bot = owned_by(BOT);
    let (next, _) = step(
        Some(&bot),
        BOT,
        "standby",
        message("u", T0 + 10, "m4", "hi"),
    );
    assert_eq!(next.owner, Owner::unknown_other());
    assert!(next.needs_resync);
}

#[test]
fn a_standby_message_for_another_app_changes_no_owner() {
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        INBOX,
        "standby",
        message("u", T0 + 10, "m5", "hi"),
    );
    assert_eq!(next.owner, bot.owner);
    assert!(!next.needs_resync);
    assert!(control_changes(&timeline).is_empty());
    assert_eq!(next.last_customer_message_at, Some(T0 + 10));
}

#[test]
fn a_customer_message_to_the_inbox_makes_it_unread_and_renews_the_lease() {
    let inbox = passed_to_inbox(T0);
    let answered = step(
        Some(&inbox),
        INBOX,
        "messaging",
        echo("u", T0 + 10, "e1", INBOX, "hello"),
    )
    .0;
    assert!(!answered.unread);
    let (next, _) = step(
        Some(&answered),
        INBOX,
        "messaging",
        message("u", T0 + 3_600_000, "m6", "?"),
    );
    assert!(next.unread);
    assert_eq!(
        next.control_expires_at,
        Some((T0 + 3_600_000) / 1000 + WINDOW)
    );
}

#[test]
fn an_older_event_never_moves_the_lease_back() {
    let inbox = passed_to_inbox(T0 + 50_000);
    let (next, _) = step(
        Some(&inbox),
        INBOX,
        "messaging",
        message("u", T0, "m7", "early"),
    );
    assert_eq!(next.control_expires_at, inbox.control_expires_at);
}

// ---- echoes -------------------------------------------------------------------------------

#[test]
fn an_agent_echo_clears_unread_and_renews_the_lease() {
    let inbox = passed_to_inbox(T0);
    let (next, timeline) = step(
        Some(&inbox),
        INBOX,
        "messaging",
        echo("u", T0 + 60_000, "e2", INBOX, "hi"),
    );
    assert!(!next.unread);
    assert_eq!(next.control_expires_at, Some((T0 + 60_000) / 1000 + WINDOW));
    assert!(timeline.iter().any(|r| matches!(r,
        Happening::Message { author: Author::Agent, app_id: Some(a), .. } if a == INBOX)));
}

#[test]
fn an_echo_from_meta_inbox_means_a_human_took_control() {
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        BOT,
        "standby",
        page_inbox_echo("u", T0 + 10, "e3", "human here"),
    );
    assert_eq!(
        next.owner,
        Owner::app(PAGE_INBOX_APP_ID, OwnerRole::PageInbox)
    );
    assert!(
        !next.needs_resync,
        "expected behaviour, not a contradiction"
    );
    assert!(!next.unread, "a human just answered");
    assert!(next.control_expires_at.is_some());
    assert!(timeline.iter().any(|r| matches!(
        r,
        Happening::Message {
            author: Author::PageInbox,
            ..
        }
    )));
}

#[test]
fn a_bot_echo_is_authored_by_the_bot() {
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        BOT,
        "messaging",
        echo("u", T0 + 10, "e4", BOT, "beep"),
    );
    assert_eq!(next.owner, bot.owner);
    assert!(timeline.iter().any(|r| matches!(
        r,
        Happening::Message {
            author: Author::Bot,
            ..
        }
    )));
}

#[test]
fn a_late_bot_echo_does_not_take_control_back() {
    // The bot's last message is echoed after it passed control to the inbox.
    let inbox = passed_to_inbox(T0 + 100);
    let (next, _) = step(
        Some(&inbox),
        BOT,
        "standby",
        echo("u", T0 + 50, "e5", BOT, "bye"),
    );
    assert_eq!(next.owner.role, OwnerRole::Inbox);
    assert!(!next.needs_resync);
}

// ---- triggers -----------------------------------------------------------------------------

#[test]
fn a_handover_postback_on_messaging_requests_a_pass_to_the_inbox() {
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        BOT,
        "messaging",
        postback("u", T0 + 10, "Talk to human", Some("TALK_TO_HUMAN")),
    );
    let action = next.pending_action.expect("trigger recorded");
    assert_eq!(action.action, ActionKind::PassToInbox);
    assert_eq!(action.acting_app_id, BOT);
    assert_eq!(action.target_app_id.as_deref(), Some(INBOX));
    assert_eq!(action.source, "payload:TALK_TO_HUMAN");
    assert_eq!(
        next.owner.role,
        OwnerRole::Bot,
        "control moves when Meta confirms"
    );
    assert!(timeline.iter().any(|r| matches!(
        r,
        Happening::ActionRequested {
            action: ActionKind::PassToInbox,
            ..
        }
    )));
}

#[test]
fn a_standby_postback_never_triggers() {
    let inbox = passed_to_inbox(T0);
    let v = json!({"sender":{"id":"u"},"recipient":{"id":PAGE},"timestamp":T0 + 10,"postback":{}});
    let (next, _) = step(Some(&inbox), BOT, "standby", v);
    assert!(next.pending_action.is_none());
    let (next, _) = step(
        Some(&inbox),
        BOT,
        "standby",
        postback("u", T0 + 11, "Details", None),
    );
    assert!(next.pending_action.is_none());
}

#[test]
fn a_return_quick_reply_while_the_inbox_owns_requests_a_pass_to_the_bot() {
    let inbox = passed_to_inbox(T0);
    let (next, _) = step(
        Some(&inbox),
        INBOX,
        "messaging",
        quick_reply("u", T0 + 10, "q1", "Back to bot", "BACK_TO_BOT"),
    );
    let action = next.pending_action.expect("trigger recorded");
    assert_eq!(action.action, ActionKind::PassToBot);
    assert_eq!(action.acting_app_id, INBOX);
    assert_eq!(action.target_app_id.as_deref(), Some(BOT));
}

#[test]
fn a_handover_keyword_requests_a_pass_to_the_inbox() {
    let bot = owned_by(BOT);
    let (next, _) = step(
        Some(&bot),
        BOT,
        "messaging",
        message("u", T0 + 10, "k1", "Can I talk to a HUMAN, please?"),
    );
    let action = next.pending_action.expect("keyword trigger");
    assert_eq!(action.source, "keyword:human");
}

#[test]
fn keywords_match_whole_words_case_insensitively() {
    let keywords = vec!["human".to_string(), "talk to agent".to_string()];
    assert_eq!(matching_keyword("HUMAN!", &keywords), Some("human"));
    assert_eq!(
        matching_keyword("I'd like to talk   to Agent.", &keywords),
        Some("talk to agent")
    );
    assert_eq!(matching_keyword("humane society", &keywords), None);
    assert_eq!(matching_keyword("agent", &keywords), None);
}

#[test]
fn a_trigger_that_is_already_satisfied_asks_for_nothing() {
    let inbox = passed_to_inbox(T0);
    let (next, _) = step(
        Some(&inbox),
        INBOX,
        "messaging",
        postback("u", T0 + 10, "Talk to human", Some("TALK_TO_HUMAN")),
    );
    assert!(next.pending_action.is_none());
    let bot = owned_by(BOT);
    let (next, _) = step(
        Some(&bot),
        BOT,
        "messaging",
        postback("u", T0 + 10, "Back", Some("BACK_TO_BOT")),
    );
    assert!(next.pending_action.is_none());
}

// ---- no-ops and ordering ------------------------------------------------------------------

#[test]
fn reads_deliveries_app_roles_unknown_and_dashboard_samples_write_nothing() {
    let bot = owned_by(BOT);
    assert_eq!(
        decide(Some(&bot), BOT, &event("messaging", read("u", T0 + 5))),
        Decision::Unchanged
    );
    let delivery = json!({"sender":{"id":"u"},"recipient":{"id":PAGE},"delivery":{"mids":["m"],"watermark":T0}});
    assert_eq!(
        decide(Some(&bot), BOT, &event("messaging", delivery)),
        Decision::Unchanged
    );
    let roles =
        json!({"recipient":{"id":PAGE},"timestamp":T0,"app_roles":{BOT:["primary_receiver"]}});
    assert_eq!(
        decide(None, BOT, &event("messaging", roles)),
        Decision::Unchanged
    );
    let unknown = json!({"sender":{"id":"u"},"recipient":{"id":PAGE},"timestamp":T0,"reaction":{"emoji":"x"}});
    assert_eq!(
        decide(None, BOT, &event("messaging", unknown)),
        Decision::Unchanged
    );
    let sample = json!({"object":"page","entry":[{"id":PAGE,"time":T0,"changes":[{"field":"messages",
        "value":{"sender":{"id":"u"},"recipient":{"id":PAGE},"timestamp":T0,"message":{"mid":"x","text":"t"}}}]}]});
    let parsed = parse_webhook(&bytes(&sample)).unwrap();
    assert_eq!(decide(None, BOT, &parsed.events[0]), Decision::Unchanged);
}

#[test]
fn an_older_control_event_is_late_and_changes_no_owner() {
    let inbox = passed_to_inbox(T0 + 2000);
    let (next, timeline) = step(
        Some(&inbox),
        BOT,
        "messaging",
        pass("u", T0 + 1000, None, BOT),
    );
    assert_eq!(next.owner, inbox.owner);
    assert_eq!(
        control_changes(&timeline),
        vec![(inbox.owner.clone(), inbox.owner.clone(), true)]
    );
    assert_eq!(
        next.version,
        inbox.version + 1,
        "the late entry is still recorded"
    );
}

#[test]
fn seconds_timestamps_are_normalised_before_ordering() {
    let inbox = passed_to_inbox(T0);
    // 10 s later, in seconds.
    let (next, _) = step(
        Some(&inbox),
        BOT,
        "messaging",
        pass("u", T0 / 1000 + 10, Some(INBOX), BOT),
    );
    assert_eq!(next.owner.role, OwnerRole::Bot);
    assert_eq!(next.last_control_event_at, Some(T0 + 10_000));
}

#[test]
fn a_confirmed_change_outranks_an_echo_of_the_same_millisecond() {
    // The agent's last message is sent with `thread_control: release`; Meta's echo of it
    // carries the same millisecond as the coordinator's record of the release.
    let inbox = passed_to_inbox(T0);
    let released = apply_control_change(
        &inbox,
        &ControlChange {
            to: Owner::idle(),
            cause: Cause::Api,
            actor: Some(INBOX),
            event: "release_thread_control",
            metadata: None,
            at: T0 + 500,
            key: "api:send:1".to_string(),
        },
        &page(),
    );
    assert_eq!(released.expected_version, inbox.version);
    assert_eq!(released.state.version, inbox.version + 1);
    assert_eq!(released.state.owner, Owner::idle());
    assert_eq!(released.state.control_expires_at, None);
    let (next, timeline) = step(
        Some(&released.state),
        INBOX,
        "messaging",
        echo("u", T0 + 500, "e-final", INBOX, "bye"),
    );
    assert_eq!(next.owner, Owner::idle(), "the release stands");
    assert!(control_changes(&timeline).is_empty());
}

#[test]
fn a_confirmed_change_never_orders_before_the_last_control_event() {
    // The coordinator's clock lags Meta's: the pass webhook (T0) was applied, then the API
    // confirms a release stamped 300 ms earlier by the local clock.
    let inbox = passed_to_inbox(T0);
    let released = apply_control_change(
        &inbox,
        &ControlChange {
            to: Owner::idle(),
            cause: Cause::Api,
            actor: Some(INBOX),
            event: "release_thread_control",
            metadata: None,
            at: T0 - 300,
            key: "api:release:1".to_string(),
        },
        &page(),
    );
    assert_eq!(released.state.last_control_event_at, Some(T0));
    assert_eq!(released.state.updated_at, T0);
    assert_eq!(
        released.timeline.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![T0]
    );
}

#[test]
fn a_confirmed_change_the_record_already_shows_still_outranks_older_claims() {
    // The bot released at T0+100. A customer wrote at T0+200 (Meta gave the idle thread to
    // its default app, the bot), but that delivery's first attempt was dropped. The bot
    // released again at T0+300: the record already said idle, nothing to append. Then
    // Meta's retry of the message arrives: it is older than the release Meta confirmed.
    let release = |at: i64, key: &str| ControlChange {
        to: Owner::idle(),
        cause: Cause::Api,
        actor: Some(BOT),
        event: "release_thread_control",
        metadata: None,
        at,
        key: key.to_string(),
    };
    let bot = owned_by(BOT);
    let released = apply_control_change(&bot, &release(T0 + 100, "api:release:1"), &page()).state;
    let again = confirm_recorded_change(&released, &release(T0 + 300, "api:release:2"))
        .expect("the ordering guard moves up to the confirmation");
    assert!(again.timeline.is_empty());
    assert_eq!(again.expected_version, released.version);
    assert_eq!(again.state.owner, Owner::idle());
    assert_eq!(again.state.control_expires_at, released.control_expires_at);
    assert_eq!(again.state.last_control_event_at, Some(T0 + 300));
    let (late, timeline) = step(
        Some(&again.state),
        BOT,
        "messaging",
        message("u", T0 + 200, "m-late", "hi"),
    );
    assert_eq!(late.owner, Owner::idle(), "the confirmed release stands");
    assert!(control_changes(&timeline).is_empty());
    let (newer, _) = step(
        Some(&again.state),
        BOT,
        "messaging",
        message("u", T0 + 400, "m-new", "hi"),
    );
    assert_eq!(newer.owner, Owner::app(BOT, OwnerRole::Bot));
    assert!(
        confirm_recorded_change(&again.state, &release(T0 + 300, "api:release:2")).is_none(),
        "the same confirmation again moves nothing"
    );
    assert!(
        confirm_recorded_change(&again.state, &release(T0 + 250, "api:release:0")).is_none(),
        "an older confirmation never moves the guard back"
    );
}

// ---- property: order and duplicates do not matter -----------------------------------------

const APPS: [&str; 4] = [BOT, INBOX, OTHER_APP, PAGE_INBOX_APP_ID];
const RECEIVERS: [&str; 2] = [BOT, INBOX];

#[derive(Clone, Debug)]
enum Kind {
    Pass(usize),
    Take(usize),
    TakeOldShape,
    Message,
    StandbyMessage,
    Echo(usize),
    Request(usize),
    Read,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (0..4usize).prop_map(Kind::Pass),
        (0..4usize).prop_map(Kind::Take),
        Just(Kind::TakeOldShape),
        Just(Kind::Message),
        Just(Kind::StandbyMessage),
        (0..4usize).prop_map(Kind::Echo),
        (0..4usize).prop_map(Kind::Request),
        Just(Kind::Read),
    ]
}

fn build(index: usize, kind: &Kind, receiver: usize, offset: i64) -> (String, WebhookEvent) {
    let ts = T0 + offset;
    let mid = format!("m-{index}");
    let receiver_app = RECEIVERS[receiver];
    let (list, value) = match kind {
        Kind::Pass(to) => ("messaging", pass("u", ts, None, APPS[*to])),
        Kind::Take(to) => ("messaging", take("u", ts, receiver_app, Some(APPS[*to]))),
        Kind::TakeOldShape => ("messaging", take("u", ts, receiver_app, None)),
        Kind::Message => ("messaging", message("u", ts, &mid, "x")),
        Kind::StandbyMessage => ("standby", message("u", ts, &mid, "x")),
        Kind::Echo(from) => ("standby", echo("u", ts, &mid, APPS[*from], "y")),
        Kind::Request(from) => ("messaging", request("u", ts, APPS[*from])),
        Kind::Read => ("messaging", read("u", ts)),
    };
    (receiver_app.to_string(), event(list, value))
}

/// What the final record shows: the owner, and what the agents' queue index is built from
/// (the owner's role, unread, the newest activity).
type Outcome = (Owner, bool, i64);

fn final_owner(events: &[(String, WebhookEvent)], dedupe: bool) -> Outcome {
    let page = page();
    let mut state: Option<Conversation> = None;
    let mut seen = std::collections::HashSet::new();
    for (receiver, e) in events {
        let key = e.applied_key(receiver);
        if dedupe && !seen.insert(key.clone()) {
            continue;
        }
        let ctx = EventContext {
            page: &page,
            receiving_app: receiver,
            now: T0,
        };
        if let Decision::Write(t) = apply_event(state.as_ref(), e, &key, &ctx) {
            state = Some(t.state);
        }
    }
    state.map_or_else(
        || (Owner::idle(), false, 0),
        |s| (s.owner, s.unread, s.last_activity_at),
    )
}

/// An event with the app it was delivered to.
type Delivery = (String, WebhookEvent);

fn scenario() -> impl Strategy<Value = (Vec<Delivery>, Vec<Delivery>)> {
    prop::collection::vec((kind(), 0..2usize, 0..40i64), 1..24)
        .prop_map(|specs| {
            specs
                .iter()
                .enumerate()
                .map(|(i, (k, r, o))| build(i, k, *r, *o))
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|events| {
            let n = events.len();
            (
                Just(events.clone()),
                Just(events).prop_shuffle(),
                prop::collection::vec(0..n, 0..6),
            )
        })
        .prop_map(|(original, mut shuffled, duplicates)| {
            for i in duplicates {
                let copy = shuffled[i].clone();
                shuffled.insert(i, copy);
            }
            (original, shuffled)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_permutation_or_duplication_gives_the_same_owner_unread_and_queue((original, replayed) in scenario()) {
        let expected = final_owner(&original, true);
        prop_assert_eq!(&final_owner(&replayed, true), &expected, "with applied-event keys");
        prop_assert_eq!(&final_owner(&replayed, false), &expected, "without applied-event keys");
    }
}

// ---- unread from ordered facts -------------------------------------------------------------

/// `current` with an event applied; the record afterwards.
fn then(current: &Conversation, receiver: &str, list: &str, value: Value) -> Conversation {
    step(Some(current), receiver, list, value).0
}

#[test]
fn an_agent_reply_older_than_a_customer_message_leaves_it_unread() {
    let passed = passed_to_inbox(T0);
    let asked = then(
        &passed,
        INBOX,
        "messaging",
        message("u", T0 + 20, "m-q", "still there?"),
    );
    // The agent's reply was sent before the customer wrote again; its echo arrives late.
    let replied = then(
        &asked,
        INBOX,
        "messaging",
        echo("u", T0 + 10, "m-a", INBOX, "hello"),
    );
    assert!(replied.unread, "the customer's newer message is unanswered");
}

#[test]
fn a_late_customer_message_older_than_the_agent_reply_stays_read() {
    let passed = passed_to_inbox(T0);
    let replied = then(
        &passed,
        INBOX,
        "messaging",
        echo("u", T0 + 20, "m-a", INBOX, "hello"),
    );
    assert!(!replied.unread);
    let late = then(
        &replied,
        INBOX,
        "messaging",
        message("u", T0 + 10, "m-q", "hi"),
    );
    assert!(!late.unread, "the agent answered after this message");
}

// ---- an extension does not carry over to a new owner ---------------------------------------

#[test]
fn an_extended_lease_does_not_carry_over_to_a_new_owner_seen_by_webhook() {
    let passed = passed_to_inbox(T0);
    let change = ControlChange {
        to: Owner::app(INBOX, OwnerRole::Inbox),
        cause: Cause::Api,
        actor: Some(INBOX),
        event: "extend_thread_control",
        metadata: None,
        at: T0 + 1000,
        key: "api:extend:1".into(),
    };
    let mut extended = apply_control_change(&passed, &change, &page()).state;
    extended.control_expires_at = Some(T0 / 1000 + 7 * 86_400);
    // Meta's Page Inbox takes the thread: a fresh window, not the inbox app's 7 days.
    let taken = then(
        &extended,
        INBOX,
        "messaging",
        take("u", T0 + 2000, INBOX, Some(PAGE_INBOX_APP_ID)),
    );
    assert_eq!(taken.owner.role, OwnerRole::PageInbox);
    assert_eq!(taken.control_expires_at, Some((T0 + 2000) / 1000 + WINDOW));
}

// ---- messages without mid: Meta's system messages ------------------------------------------

#[test]
fn a_message_without_mid_is_a_system_event_that_flags_a_resync() {
    // Meta Business AI hands the conversation back: a `message` with `admin_text`, no mid.
    let hand_back = json!({"sender": {"id": "u"}, "recipient": {"id": PAGE}, "timestamp": T0 + 5,
        "message": {"admin_text": "Meta Business AI passed this conversation to the Page"}});
    let parsed = parse_webhook(&bytes(&envelope("messaging", vec![hand_back]))).unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    let bot = owned_by(BOT);
    let (next, timeline) = step(
        Some(&bot),
        BOT,
        "messaging",
        json!({"sender": {"id": "u"},
        "recipient": {"id": PAGE}, "timestamp": T0 + 5,
        "message": {"admin_text": "Meta Business AI passed this conversation to the Page"}}),
    );
    assert_eq!(
        next.owner, bot.owner,
        "the owner is Meta's to name: re-sync"
    );
    assert!(next.needs_resync);
    assert!(
        matches!(
            timeline.as_slice(),
            [Happening::System { text: Some(t), .. }] if t.contains("Business AI")
        ),
        "{timeline:?}"
    );
}

// ---- found by the fault-injection checker ---------------------------------------------------

/// A Page whose default app (its bot) is another company's app: only its inbox is ours.
fn foreign_bot_page() -> PagePolicy {
    let mut page = page();
    page.bot_app_id = "4004".to_string();
    page.own_default_app = None;
    page
}

/// `step` on `page`.
fn step_on(
    page: &PagePolicy,
    current: Option<&Conversation>,
    receiver: &str,
    list: &str,
    value: Value,
) -> (Conversation, Vec<Happening>) {
    match decide_with(page, T0 + 3_600_000, current, receiver, &event(list, value)) {
        Decision::Write(t) => (t.state, t.timeline.into_iter().map(|e| e.record).collect()),
        Decision::Unchanged => panic!("expected a write"),
    }
}

#[test]
fn a_customer_on_standby_with_nobody_recorded_is_in_another_apps_thread() {
    // Checker seed 1: a Page whose bot is another company's app; our inbox only sees the
    // standby copy. The thread is held, and not by our inbox: re-sync names it.
    let page = foreign_bot_page();
    let (next, _) = step_on(&page, None, INBOX, "standby", message("u", T0, "m1", "hi"));
    assert_eq!(next.owner, Owner::unknown_other());
    assert!(next.needs_resync);
}

#[test]
fn a_standby_copy_against_an_idle_record_names_our_default_app() {
    // The customer's first message: the inbox's standby copy comes before the bot's
    // messaging copy. Meta gives an idle thread to the Page's default app, our bot.
    let (first, timeline) = step(None, INBOX, "standby", message("u", T0, "m1", "hi"));
    assert_eq!(first.owner, Owner::app(BOT, OwnerRole::Bot));
    assert!(!first.needs_resync);
    assert!(!first.unread);
    assert_eq!(
        control_changes(&timeline),
        vec![(Owner::idle(), Owner::app(BOT, OwnerRole::Bot), false)]
    );
    // The bot's copy confirms it: nothing more to say.
    let (confirmed, timeline) = step(Some(&first), BOT, "messaging", message("u", T0, "m1", "hi"));
    assert_eq!(confirmed.owner, first.owner);
    assert!(!confirmed.needs_resync);
    assert!(control_changes(&timeline).is_empty());
}

#[test]
fn a_standby_copy_to_the_default_app_itself_is_another_apps_thread() {
    let (next, _) = step(None, BOT, "standby", message("u", T0, "m1", "hi"));
    assert_eq!(next.owner, Owner::unknown_other());
    assert!(next.needs_resync);
    // The inbox's standby copy of the same message names nobody either.
    let (both, _) = step(Some(&next), INBOX, "standby", message("u", T0, "m1", "hi"));
    assert_eq!(both.owner, Owner::unknown_other());
    assert!(both.needs_resync);
}

#[test]
fn the_default_app_named_from_standby_is_contradicted_by_its_own_standby_copy() {
    // Both our apps got standby copies: another app (a routing rule) holds the thread.
    let (named, _) = step(None, INBOX, "standby", message("u", T0, "m1", "hi"));
    assert_eq!(named.owner.role, OwnerRole::Bot);
    let (next, timeline) = step(Some(&named), BOT, "standby", message("u", T0, "m1", "hi"));
    assert_eq!(next.owner, Owner::unknown_other());
    assert!(next.needs_resync);
    assert_eq!(
        control_changes(&timeline),
        vec![(
            Owner::app(BOT, OwnerRole::Bot),
            Owner::unknown_other(),
            false
        )]
    );
}

#[test]
fn a_standby_message_after_meta_idled_the_thread_is_another_apps() {
    // Checker seed 19: Meta's Page Inbox held it, Meta idled it after 24 h, the customer
    // wrote again and another app got it.
    let page = foreign_bot_page();
    let (held, _) = step_on(
        &page,
        None,
        INBOX,
        "standby",
        page_inbox_echo("u", T0, "m1", "hello"),
    );
    assert_eq!(held.owner.role, OwnerRole::PageInbox);
    let later = T0 + 25 * 3_600_000;
    let (next, _) = step_on(
        &page,
        Some(&held),
        INBOX,
        "standby",
        postback("u", later, "Back", None),
    );
    assert_eq!(next.owner, Owner::unknown_other());
    assert!(next.needs_resync);
    // On a Page whose default app is our bot, Meta gave the idled thread to the bot.
    let (ours, _) = step(
        Some(&held),
        INBOX,
        "standby",
        postback("u", later, "Back", None),
    );
    assert_eq!(ours.owner, Owner::app(BOT, OwnerRole::Bot));
    assert!(!ours.needs_resync);
}

#[test]
fn the_bots_thread_is_idle_once_meta_idles_it() {
    // Checker seed 1 (after every window): Meta idles a thread 24 h after its last activity.
    let bot = owned_by(BOT);
    assert_eq!(bot.owner_at(T0 + 3_600_000).role, OwnerRole::Bot);
    assert_eq!(bot.owner_at(T0 + 24 * 3_600_000).role, OwnerRole::Idle);
}

#[test]
fn the_coordinator_s_own_out_of_hours_notice_is_no_answer() {
    let passed = passed_to_inbox(T0);
    assert!(passed.unread);
    let mut notice = echo("u", T0 + 10, "m-ooh", INBOX, "We're closed");
    notice["message"]["metadata"] = json!(routing_domain::AUTOMATIC_MESSAGE_METADATA);
    let noticed = then(&passed, INBOX, "messaging", notice);
    assert!(noticed.unread, "still waiting for an agent");
    assert_eq!(noticed.answered_at, passed.answered_at);
    // An agent's own reply is an answer.
    let replied = then(
        &noticed,
        INBOX,
        "messaging",
        echo("u", T0 + 20, "m-a", INBOX, "hello"),
    );
    assert!(!replied.unread);
}
