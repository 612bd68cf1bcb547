//! The control rules on `MemoryStore`, a fixed clock and a scripted Graph API.

use std::sync::Arc;

use routing_core::meta::webhook::MetaWebhooks;
use routing_core::store::MemoryStore;
use routing_domain::{Conversation, Owner};
use routing_domain::{FixedClock, OwnerRole};
use routing_usecases::control::*;
use routing_usecases::ports::GraphError;
use routing_usecases::ports::{MessagingType, Store};
use routing_usecases::records::write_of;
use routing_usecases::records::Records;
use routing_usecases::testing::{config, ScriptedAnswer, ScriptedGraph, BOT, INBOX, PAGE};

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3600 * 1000;

struct Rig {
    control: ControlService,
    graph: Arc<ScriptedGraph>,
    clock: Arc<FixedClock>,
    store: Arc<MemoryStore>,
}

fn rig() -> Rig {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock::at(T0));
    let graph = Arc::new(ScriptedGraph::new());
    let records = Records::new(config(), store.clone(), clock.clone());
    Rig {
        control: ControlService::new(records, graph.clone()),
        graph,
        clock,
        store,
    }
}

impl Rig {
    /// A stored conversation held by `owner`, the customer's last message at `written`.
    async fn held_by(&self, psid: &str, owner: Owner, written: i64) {
        let mut record = Conversation::new(PAGE, psid, written);
        record.owner = owner;
        record.last_customer_message_at = Some(written);
        record.renew_lease(written, 86_400);
        record.version = 1;
        let transition = routing_domain::transition::Transition {
            expected_version: 0,
            state: record,
            timeline: Vec::new(),
        };
        let write = write_of(transition, None, 86_400, written);
        self.store.write(write).await.unwrap();
    }

    async fn send(&self, psid: &str, acting: &str) -> Result<MessageOutcome, ControlError> {
        let request = MessageRequest {
            text: "hello".into(),
            acting: Some(acting.into()),
            take_control: false,
            reset_after: false,
        };
        self.control.send_message(PAGE, psid, request).await
    }
}

#[tokio::test]
async fn the_bot_never_talks_over_a_live_human_owner() {
    let rig = rig();
    rig.held_by("u1", Owner::app(INBOX, OwnerRole::Inbox), T0)
        .await;
    let err = rig.send("u1", "bot").await.unwrap_err();
    assert!(
        matches!(err, ControlError::BotMayNotSpeak { .. }),
        "{err:?}"
    );
    assert!(rig.graph.calls().is_empty(), "nothing reached Meta");
    // Once the human's lease ran out, the bot may answer again.
    rig.clock.set(T0 + 25 * HOUR);
    rig.held_by("u2", Owner::app(INBOX, OwnerRole::Inbox), T0)
        .await;
    let err = rig.send("u2", "bot").await.unwrap_err();
    assert!(
        matches!(err, ControlError::WindowClosed(_)),
        "past 24 h: {err:?}"
    );
}

#[tokio::test]
async fn humans_answer_for_seven_days_with_the_human_agent_tag() {
    let rig = rig();
    rig.held_by("u3", Owner::app(INBOX, OwnerRole::Inbox), T0)
        .await;
    let sent = rig.send("u3", "inbox").await.unwrap();
    assert_eq!(sent.messaging_type, MessagingType::Response);
    rig.clock.set(T0 + 48 * HOUR);
    let sent = rig.send("u3", "inbox").await.unwrap();
    assert_eq!(sent.messaging_type, MessagingType::HumanAgent);
    rig.clock.set(T0 + 7 * 24 * HOUR + 1);
    let err = rig.send("u3", "inbox").await.unwrap_err();
    assert!(matches!(err, ControlError::WindowClosed(_)), "{err:?}");
    assert_eq!(
        rig.graph.calls().len(),
        2,
        "two sends, the third refused here"
    );
}

/// An agent's token in the object form: the inbox only, by default.
fn sam() -> routing_usecases::config::ApiToken {
    serde_json::from_value(serde_json::json!(
        {"token": "sam-token-0123456789", "scope": "act", "agent_name": "Sam"}
    ))
    .unwrap()
}

fn pass(acting: Option<&str>, target: &str, metadata: Option<&str>) -> ControlRequest {
    ControlRequest {
        action: "pass".into(),
        acting: acting.map(str::to_string),
        target: Some(target.into()),
        metadata: metadata.map(str::to_string),
        duration_secs: None,
    }
}

#[tokio::test]
async fn an_agent_may_neither_speak_nor_pass_as_the_bot() {
    let rig = rig();
    rig.held_by("u8", Owner::app(BOT, OwnerRole::Bot), T0).await;
    let sam = rig.control.for_token(&sam());
    let message = MessageRequest {
        text: "I am the bot".into(),
        acting: Some("bot".into()),
        take_control: false,
        reset_after: false,
    };
    let err = sam.send_message(PAGE, "u8", message).await.unwrap_err();
    assert!(
        matches!(&err, ControlError::ActingForbidden(m) if m.contains(BOT)),
        "{err:?}"
    );
    let err = sam
        .control(PAGE, "u8", pass(Some("bot"), "inbox", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ControlError::ActingForbidden(m) if m.contains(BOT)),
        "{err:?}"
    );
    assert!(rig.graph.calls().is_empty(), "nothing reached Meta");
}

/// The control entries of a conversation: (agent, metadata).
async fn control_entries(rig: &Rig, psid: &str) -> Vec<(Option<String>, Option<String>)> {
    let listing = rig
        .control
        .timeline(
            PAGE,
            psid,
            routing_usecases::ports::TimelineOrder::OldestFirst,
            100,
            None,
        )
        .await
        .unwrap();
    listing
        .items
        .into_iter()
        .filter_map(|entry| match entry.record {
            routing_domain::Happening::Control { metadata, .. } => Some((entry.agent, metadata)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_agents_pass_is_credited_to_them_when_metas_webhook_is_applied_first() {
    let rig = rig();
    let sam = rig.control.for_token(&sam());
    let back = pass(None, "bot", Some("back to the bot"));
    // The API records its own pass: the call Meta received tells the webhook's metadata.
    rig.held_by("u9", Owner::app(INBOX, OwnerRole::Inbox), T0)
        .await;
    sam.control(PAGE, "u9", back.clone()).await.unwrap();
    let sent = rig.graph.calls().last().unwrap().metadata.clone();
    // Meta's pass_thread_control webhook (to the bot, the new owner) is applied before
    // the API records the same pass.
    rig.held_by("u10", Owner::app(INBOX, OwnerRole::Inbox), T0)
        .await;
    let webhook = serde_json::json!({"sender": {"id": "u10"}, "recipient": {"id": PAGE},
        "timestamp": T0, "pass_thread_control": {"previous_owner_app_id": INBOX,
        "new_owner_app_id": BOT, "metadata": sent}});
    let body = routing_usecases::testing::envelope("messaging", vec![webhook]).to_string();
    let ingest = MetaWebhooks::ingest(rig.control.records().clone());
    ingest.ingest(BOT, body.as_bytes()).await.unwrap();
    sam.control(PAGE, "u10", back).await.unwrap();
    for psid in ["u9", "u10"] {
        assert_eq!(
            control_entries(&rig, psid).await,
            [(Some("Sam".to_string()), Some("back to the bot".to_string()))],
            "{psid}"
        );
    }
}

/// Found by the fault-injection checker (seed 203, racing): the API passes to the inbox,
/// Meta's webhook for that pass is applied first, then the API records the pass; meanwhile
/// Meta's Page Inbox took the thread, and its take webhook arrives after. The API's record
/// of a pass its own webhook already applied must not outrank the take.
#[tokio::test]
async fn a_take_after_a_pass_already_applied_from_its_webhook_still_claims_the_thread() {
    let rig = rig();
    rig.held_by("u11", Owner::app(BOT, OwnerRole::Bot), T0)
        .await;
    let deliver = |app: &str, event: serde_json::Value| {
        let body = routing_usecases::testing::envelope("messaging", vec![event]).to_string();
        let ingest = MetaWebhooks::ingest(rig.control.records().clone());
        let app = app.to_string();
        async move { ingest.ingest(&app, body.as_bytes()).await.unwrap() }
    };
    // Meta applied the pass at T0 + 1 s; its webhook reaches the inbox first.
    deliver(
        INBOX,
        serde_json::json!({"sender": {"id": "u11"}, "recipient": {"id": PAGE},
        "timestamp": T0 + 1_000, "pass_thread_control": {"previous_owner_app_id": BOT,
        "new_owner_app_id": INBOX, "metadata": "m"}}),
    )
    .await;
    // The API records its pass later (its clock at T0 + 10 s).
    rig.clock.set(T0 + 10_000);
    rig.control
        .control(PAGE, "u11", pass(Some("bot"), "inbox", None))
        .await
        .unwrap();
    // Meta's Page Inbox took the thread at T0 + 5 s; the take webhook comes last.
    deliver(
        INBOX,
        serde_json::json!({"sender": {"id": "u11"}, "recipient": {"id": PAGE},
        "timestamp": T0 + 5_000, "take_thread_control": {"previous_owner_app_id": INBOX,
        "new_owner_app_id": routing_domain::PAGE_INBOX_APP_ID, "metadata": ""}}),
    )
    .await;
    let record = rig.store.conversation(PAGE, "u11").await.unwrap().unwrap();
    assert_eq!(
        record.owner.role,
        OwnerRole::PageInbox,
        "{:?}",
        record.owner
    );
}

#[tokio::test]
async fn meta_refusing_a_pass_names_its_owner_after_an_inline_resync() {
    let rig = rig();
    rig.held_by("u5", Owner::app(BOT, OwnerRole::Bot), T0).await;
    let not_owner = GraphError::NotOwner {
        code: 100,
        subcode: 2_534_037,
    };
    let inbox = routing_usecases::ports::ThreadOwner {
        app_id: Some(INBOX.into()),
        expires_at: None,
    };
    rig.graph
        .answer(ScriptedAnswer::Fail(not_owner))
        .answer(ScriptedAnswer::Owner(Some(inbox)));
    let request = ControlRequest {
        action: "pass".into(),
        acting: Some("bot".into()),
        target: Some("inbox".into()),
        metadata: None,
        duration_secs: None,
    };
    let err = rig.control.control(PAGE, "u5", request).await.unwrap_err();
    let ControlError::Graph { owner, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(owner, Owner::app(INBOX, OwnerRole::Inbox));
    let edges: Vec<&str> = rig.graph.calls().iter().map(|c| c.edge).collect();
    assert_eq!(edges, ["pass_thread_control", "thread_owner"]);
}
