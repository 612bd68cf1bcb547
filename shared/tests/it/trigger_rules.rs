//! The trigger executor on `MemoryStore` and a scripted Graph API.

use std::sync::Arc;

use routing_core::store::MemoryStore;
use routing_domain::transition::Transition;
use routing_domain::{ActionKind, RequestedAction};
use routing_domain::{FixedClock, Happening, Owner, OwnerRole};
use routing_usecases::ports::GraphError;
use routing_usecases::ports::{Store, TimelineOrder};
use routing_usecases::records::Records;
use routing_usecases::testing::{config, ScriptedAnswer, ScriptedGraph, BOT, INBOX, PAGE};
use routing_usecases::triggers::*;

const T0: i64 = 1_700_000_000_000;

#[tokio::test]
async fn a_trigger_whose_send_had_no_answer_is_never_sent_again() {
    let store = Arc::new(MemoryStore::new());
    let graph = Arc::new(ScriptedGraph::new());
    let records = Records::new(config(), store.clone(), Arc::new(FixedClock::at(T0)));
    let triggers = Triggers::new(records.clone(), graph.clone());
    records
        .update(PAGE, "u6", |current| {
            let mut next = Transition::successor(current);
            next.state.owner = Owner::app(BOT, OwnerRole::Bot);
            next.state.needs_resync = true;
            next.state.pending_action = Some(RequestedAction {
                action: ActionKind::PassToInbox,
                acting_app_id: BOT.into(),
                target_app_id: Some(INBOX.into()),
                source: "payload:TALK_TO_HUMAN".into(),
                at: T0,
                event_key: "e6".into(),
                executing_since: None,
                flagged: true,
            });
            Some(next)
        })
        .await
        .unwrap();
    graph.answer(ScriptedAnswer::Fail(GraphError::OutcomeUnknown(
        "timed out".into(),
    )));
    let err = triggers.execute(PAGE, "u6").await.unwrap_err();
    assert!(matches!(err, TriggerError::Graph(_)), "{err:?}");
    // The confirmation may have reached the customer: the action is dropped with a
    // timeline entry, not left pending for the next event to send it again.
    let record = store.conversation(PAGE, "u6").await.unwrap().unwrap();
    assert!(record.pending_action.is_none() && record.needs_resync);
    assert!(triggers.execute(PAGE, "u6").await.unwrap().is_none());
    assert_eq!(graph.calls().len(), 1, "one Send API call");
    let timeline = store
        .timeline(PAGE, "u6", TimelineOrder::OldestFirst, 10, None)
        .await
        .unwrap();
    assert!(timeline
        .items
        .iter()
        .any(|e| matches!(e.record, Happening::ActionFailed { .. })));
}
