//! Trigger actions under partial failure, on both stores, with Meta played by the emulator
//! over HTTP: a handover a webhook asked for happens even when another conversation of the
//! same delivery cannot be stored, when the executor died mid-way, or when nobody ran it;
//! a stale claim is checked against Meta's owner and then completed, performed, or recorded
//! on the timeline as failed.

use routing_core::meta::webhook::MetaWebhooks;
use std::sync::Arc;
use std::time::{Duration, Instant};

use routing_domain::{ActionKind, Happening, Owner, OwnerRole, RequestedAction, PAGE_INBOX_APP_ID};
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::{Store, TimelineOrder};
use routing_usecases::resync::ResyncLimits;
use routing_usecases::testing::{
    bytes, envelope, message, postback, FaultyStore, BOT, INBOX, PAGE,
};
use routing_usecases::triggers::{Triggers, ACTION_CLAIM_TIMEOUT_MS};

use crate::support::{dynamo, memory, World};

const WINDOW: i64 = 3600;
const TABLES: &str = "triggers";

struct Rig {
    world: World,
    faults: Arc<FaultyStore>,
}

async fn rig(store: Arc<dyn Store>) -> Rig {
    let faults = Arc::new(FaultyStore::new(store));
    let world = World::start(faults.clone(), WINDOW, None).await;
    Rig { world, faults }
}

impl Rig {
    fn triggers(&self) -> Triggers {
        let control = &self.world.control;
        Triggers::new(control.records().clone(), control.graph().clone())
    }

    /// Webhook ingest that executes triggers (as deployed), or only records them.
    fn ingest(&self, execute: bool) -> WebhookIngest {
        let ingest = MetaWebhooks::ingest(self.world.control.records().clone());
        if execute {
            ingest.with_triggers(self.triggers())
        } else {
            ingest
        }
    }

    /// The customer taps "Talk to a human" on `x` while writing on `y`: one delivery.
    fn handover_and_message(&self, x: &str, y: &str) -> Vec<u8> {
        let now = self.world.now();
        bytes(&envelope(
            "messaging",
            vec![
                postback(x, now - 2000, "Talk to a human", Some("TALK_TO_HUMAN")),
                message(y, now - 1000, &format!("m-{y}"), "hello"),
            ],
        ))
    }

    /// Confirmation messages Meta delivered to `psid`.
    async fn confirmations(&self, psid: &str) -> usize {
        let sent = self
            .world
            .emulator_get(&format!("messages?psid={psid}"))
            .await;
        sent["messages"].as_array().map_or(0, Vec::len)
    }

    /// The record holds an action claimed `ago` ms before now by an executor that died.
    async fn claimed_long_ago(&self, psid: &str, ago: i64) {
        let world = &self.world;
        world.held_by(psid, BOT, OwnerRole::Bot).await;
        let at = world.now() - ago;
        world
            .control
            .records()
            .update(PAGE, psid, |current| {
                let mut next = routing_domain::transition::Transition::successor(current);
                next.state.needs_resync = true;
                next.state.pending_action = Some(RequestedAction {
                    action: ActionKind::PassToInbox,
                    acting_app_id: BOT.into(),
                    target_app_id: Some(INBOX.into()),
                    source: "payload:TALK_TO_HUMAN".into(),
                    at,
                    event_key: format!("postback:{psid}"),
                    executing_since: Some(at),
                    flagged: true,
                });
                Some(next)
            })
            .await
            .unwrap();
    }

    /// The failures the timeline recorded for triggers.
    async fn failures(&self, psid: &str) -> Vec<String> {
        let timeline = self
            .world
            .store
            .timeline(PAGE, psid, TimelineOrder::OldestFirst, 100, None)
            .await
            .unwrap();
        timeline
            .items
            .into_iter()
            .filter_map(|e| match e.record {
                Happening::ActionFailed { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }
}

async fn a_handover_happens_when_another_conversations_write_fails(rig: Rig) {
    let world = &rig.world;
    world.held_by("x1", BOT, OwnerRole::Bot).await;
    world.held_by("y1", BOT, OwnerRole::Bot).await;
    rig.faults.fail_writes_of("y1");
    let body = rig.handover_and_message("x1", "y1");
    let ingest = rig.ingest(true);
    assert!(
        ingest.ingest(BOT, &body).await.is_err(),
        "y1 is not stored: Meta must retry the delivery"
    );
    assert_eq!(world.true_owner("x1").await.as_deref(), Some(INBOX));
    assert_eq!(world.record("x1").await.owner.role, OwnerRole::Inbox);
    // Meta's retry stores y1; x1's handover is not made a second time.
    rig.faults.heal();
    let report = ingest.ingest(BOT, &body).await.unwrap();
    assert_eq!((report.written, report.duplicates), (1, 1), "{report:?}");
    assert_eq!(rig.confirmations("x1").await, 1, "one confirmation message");
    let record = world.record("x1").await;
    assert!(record.pending_action.is_none() && !record.needs_resync);
}

async fn a_redelivery_completes_an_action_left_pending(rig: Rig) {
    let world = &rig.world;
    world.held_by("x2", BOT, OwnerRole::Bot).await;
    world.held_by("y2", BOT, OwnerRole::Bot).await;
    let body = rig.handover_and_message("x2", "y2");
    // The first delivery was stored but its function died before the action ran.
    rig.ingest(false).ingest(BOT, &body).await.unwrap();
    assert!(world.record("x2").await.pending_action.is_some());
    let report = rig.ingest(true).ingest(BOT, &body).await.unwrap();
    assert_eq!(report.duplicates, 2, "{report:?}");
    assert_eq!(report.actions_executed, 1, "{report:?}");
    assert_eq!(world.true_owner("x2").await.as_deref(), Some(INBOX));
    assert_eq!(world.record("x2").await.owner.role, OwnerRole::Inbox);
}

async fn any_later_event_completes_an_action_left_pending(rig: Rig) {
    let world = &rig.world;
    world.held_by("x3", BOT, OwnerRole::Bot).await;
    let body = rig.handover_and_message("x3", "y3");
    rig.ingest(false).ingest(BOT, &body).await.unwrap();
    let later = envelope(
        "messaging",
        vec![message("x3", world.now(), "m-later", "hi?")],
    );
    let report = rig.ingest(true).ingest(BOT, &bytes(&later)).await.unwrap();
    assert_eq!(report.actions_executed, 1, "{report:?}");
    assert_eq!(world.true_owner("x3").await.as_deref(), Some(INBOX));
}

async fn the_resync_batch_completes_an_action_nobody_ran(rig: Rig) {
    let world = &rig.world;
    world.held_by("x4", BOT, OwnerRole::Bot).await;
    let body = rig.handover_and_message("x4", "y4");
    rig.ingest(false).ingest(BOT, &body).await.unwrap();
    assert!(world.flagged().await.contains(&"x4".to_string()));
    let limits = ResyncLimits {
        stop_at: Instant::now() + Duration::from_secs(60),
        rate_per_second: 1000,
        lease_slice: 0,
    };
    world.resync.batch(limits).await;
    assert_eq!(world.true_owner("x4").await.as_deref(), Some(INBOX));
    let record = world.record("x4").await;
    assert_eq!(record.owner.role, OwnerRole::Inbox);
    assert!(record.pending_action.is_none() && !record.needs_resync);
    assert_eq!(rig.confirmations("x4").await, 1);
}

async fn a_stale_claim_whose_pass_reached_meta_is_recorded_done(rig: Rig) {
    let world = &rig.world;
    rig.claimed_long_ago("x5", ACTION_CLAIM_TIMEOUT_MS + 1000)
        .await;
    // The dead executor's pass had reached Meta.
    world.set_true_owner("x5", Some(INBOX)).await;
    let done = rig.triggers().execute(PAGE, "x5").await.unwrap();
    assert!(done.is_some(), "completed");
    let record = world.record("x5").await;
    assert_eq!(record.owner, Owner::app(INBOX, OwnerRole::Inbox));
    assert!(record.pending_action.is_none());
    assert_eq!(rig.confirmations("x5").await, 0, "nothing sent again");
}

async fn a_stale_claim_whose_pass_never_happened_is_performed(rig: Rig) {
    let world = &rig.world;
    rig.claimed_long_ago("x6", ACTION_CLAIM_TIMEOUT_MS + 1000)
        .await;
    let done = rig.triggers().execute(PAGE, "x6").await.unwrap();
    assert!(done.is_some(), "performed");
    assert_eq!(world.true_owner("x6").await.as_deref(), Some(INBOX));
    assert_eq!(world.record("x6").await.owner.role, OwnerRole::Inbox);
    assert_eq!(rig.confirmations("x6").await, 1);
}

async fn a_stale_claim_that_cannot_be_done_is_recorded_failed(rig: Rig) {
    let world = &rig.world;
    rig.claimed_long_ago("x7", ACTION_CLAIM_TIMEOUT_MS + 1000)
        .await;
    world.set_true_owner("x7", Some(PAGE_INBOX_APP_ID)).await;
    let done = rig.triggers().execute(PAGE, "x7").await;
    assert!(matches!(done, Ok(None)), "{done:?}");
    let record = world.record("x7").await;
    assert!(record.pending_action.is_none());
    assert!(
        record.needs_resync,
        "left for the re-sync to name the owner"
    );
    let failures = rig.failures("x7").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        world.true_owner("x7").await.as_deref(),
        Some(PAGE_INBOX_APP_ID)
    );
}

async fn a_live_claim_is_left_to_its_executor(rig: Rig) {
    let world = &rig.world;
    rig.claimed_long_ago("x8", 1000).await;
    let done = rig.triggers().execute(PAGE, "x8").await.unwrap();
    assert!(done.is_none());
    assert!(world.record("x8").await.pending_action.is_some());
    assert_eq!(world.true_owner("x8").await.as_deref(), Some(BOT));
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::rig(super::memory()).await).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::rig(super::dynamo(super::TABLES).await).await).await;
                }
            )*
        }
    };
}

scenarios!(
    a_handover_happens_when_another_conversations_write_fails,
    a_redelivery_completes_an_action_left_pending,
    any_later_event_completes_an_action_left_pending,
    the_resync_batch_completes_an_action_nobody_ran,
    a_stale_claim_whose_pass_reached_meta_is_recorded_done,
    a_stale_claim_whose_pass_never_happened_is_performed,
    a_stale_claim_that_cannot_be_done_is_recorded_failed,
    a_live_claim_is_left_to_its_executor,
);

// ---- a transaction whose answer was lost ---------------------------------------------------

/// Lets the next `TransactWriteItems` reach DynamoDB, then replaces its answer with a 500,
/// as when the connection drops after the commit: the SDK retries the same request.
#[derive(Debug, Default, Clone)]
struct LoseNextAnswer {
    armed: Arc<std::sync::atomic::AtomicBool>,
    dropping: Arc<std::sync::atomic::AtomicBool>,
    lost: Arc<std::sync::atomic::AtomicU32>,
}

mod lose_answer {
    use std::sync::atomic::Ordering::SeqCst;

    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::interceptors::context::{
        BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    };
    use aws_smithy_runtime_api::client::interceptors::Intercept;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::config_bag::ConfigBag;

    impl Intercept for super::LoseNextAnswer {
        fn name(&self) -> &'static str {
            "LoseNextAnswer"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let target = context
                .request()
                .headers()
                .get("x-amz-target")
                .unwrap_or("");
            if target.ends_with("TransactWriteItems") && self.armed.swap(false, SeqCst) {
                self.dropping.store(true, SeqCst);
            }
            Ok(())
        }

        fn modify_before_deserialization(
            &self,
            context: &mut BeforeDeserializationInterceptorContextMut<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            if self.dropping.swap(false, SeqCst) {
                let response = context.response_mut();
                *response.status_mut() = StatusCode::try_from(500u16)?;
                *response.body_mut() = SdkBody::from(
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected: answer lost"}"#,
                );
                self.lost.fetch_add(1, SeqCst);
            }
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_on_moto_a_claim_whose_answer_was_lost_is_recognised_as_ours() {
    use routing_core::store::DynamoStore;
    let lose = LoseNextAnswer::default();
    let config = DynamoStore::local_config(dynamo_local::server().endpoint())
        .interceptor(lose.clone())
        .build();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        dynamo_local::unique_table_name(TABLES),
    );
    store.create_table().await.unwrap();
    let rig = rig(Arc::new(store)).await;
    let world = &rig.world;
    world.held_by("x9", BOT, OwnerRole::Bot).await;
    let body = rig.handover_and_message("x9", "y9");
    rig.ingest(false).ingest(BOT, &body).await.unwrap();
    // The claim commits, its answer is lost, the SDK sends it again.
    lose.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = rig.triggers().execute(PAGE, "x9").await.unwrap();
    assert_eq!(
        lose.lost.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "an answer was lost"
    );
    assert!(
        done.is_some(),
        "our own claim is not taken for another executor's"
    );
    assert_eq!(world.true_owner("x9").await.as_deref(), Some(INBOX));
    // And an event whose answer was lost counts as written, not as a duplicate.
    lose.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let later = envelope(
        "messaging",
        vec![message("y9", world.now(), "m-y9-2", "again")],
    );
    let report = rig.ingest(false).ingest(BOT, &bytes(&later)).await.unwrap();
    assert_eq!((report.written, report.duplicates), (1, 0), "{report:?}");
}
