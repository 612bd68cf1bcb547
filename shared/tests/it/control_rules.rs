//! The control rules on `MemoryStore`, a fixed clock and a scripted Graph API.

use std::sync::Arc;

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
