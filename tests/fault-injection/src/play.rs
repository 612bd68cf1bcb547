//! Playing a history: each step's faults armed at the emulator, then the step itself,
//! through the emulator's control API (the customer, Meta's Page Inbox, the clock) or the
//! coordinator's services (agents and bots through the control service, sweeps, re-syncs).
//! The services' refusals are part of the game; what they did is checked at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use routing_usecases::control::{ControlRequest, MessageRequest};
use routing_usecases::resync::ResyncLimits;
use routing_usecases::timed_reset::SweepLimits;
use serde_json::json;

use crate::history::{Conv, Fault, History, Step};
use crate::world::World;

/// What the play itself knows, for the checks: the agents' texts sent through the API.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Texts the coordinator was asked to send, by agents and the bot (each unique in a
    /// history).
    pub agent_texts: Vec<String>,
    /// Faults armed.
    pub faults_armed: usize,
    /// Faults armed, by kind.
    pub faults_by_kind: BTreeMap<&'static str, usize>,
}

pub async fn play(world: &World, history: &History) -> Ledger {
    let mut ledger = Ledger::default();
    for (index, (faults, step)) in history.steps.iter().enumerate() {
        for fault in faults {
            arm(world, fault).await;
            ledger.faults_armed += 1;
            *ledger.faults_by_kind.entry(fault.kind()).or_default() += 1;
        }
        run(world, index, step, &mut ledger).await;
        if !history.racing {
            world.settle().await;
        }
    }
    ledger
}

async fn arm(world: &World, fault: &Fault) {
    let (path, body) = match fault {
        Fault::DuplicateDelivery => ("faults/duplicate", json!({"count": 1})),
        Fault::DropFirstAttempt => ("faults/drop-first-attempt", json!({"count": 1})),
        Fault::DropEveryAttempt => ("faults/drop-every-attempt", json!({"count": 1})),
        Fault::Reorder { count } => ("faults/reverse", json!({"count": count})),
        Fault::GraphError {
            endpoint,
            status,
            code,
            subcode,
            after_applying,
        } => (
            "faults/graph-error",
            json!({"endpoint": endpoint, "count": 1, "status": status, "code": code,
                   "error_subcode": subcode, "after_applying": after_applying}),
        ),
        Fault::Latency { endpoint, ms } => (
            "faults/latency",
            json!({"endpoint": endpoint, "latency_ms": ms, "count": 1}),
        ),
    };
    world.emulator_post(path, body).await;
}

fn control(action: &str, acting: &str, target: Option<&str>) -> ControlRequest {
    ControlRequest {
        action: action.into(),
        acting: Some(acting.into()),
        target: target.map(str::to_string),
        metadata: None,
        duration_secs: (action == "extend").then_some(7200),
    }
}

async fn customer(world: &World, conv: Conv, text: &str) {
    let body = json!({"page_id": conv.page_id(), "psid": conv.psid(), "text": text});
    world.emulator_post("customer/message", body).await;
}

async fn postback(world: &World, conv: Conv, payload: &str) {
    let body = json!({"page_id": conv.page_id(), "psid": conv.psid(), "title": payload, "payload": payload});
    world.emulator_post("customer/postback", body).await;
}

async fn run(world: &World, index: usize, step: &Step, ledger: &mut Ledger) {
    let act = |conv: Conv, request: ControlRequest| async move {
        let _ = world
            .control
            .control(conv.page_id(), &conv.psid(), request)
            .await;
    };
    match step {
        Step::CustomerMessage(conv) => customer(world, *conv, &format!("question {index}")).await,
        Step::KeywordMessage(conv) => customer(world, *conv, "I want a human please").await,
        Step::HandoverPostback(conv) => postback(world, *conv, "TALK_TO_HUMAN").await,
        Step::ReturnPostback(conv) => postback(world, *conv, "BACK_TO_BOT").await,
        Step::AgentReply {
            conv,
            take_control,
            reset_after,
        } => {
            let text = format!("agent reply {index}");
            ledger.agent_texts.push(text.clone());
            let request = MessageRequest {
                text,
                acting: Some("inbox".into()),
                take_control: *take_control,
                reset_after: *reset_after,
            };
            let _ = world
                .control
                .send_message(conv.page_id(), &conv.psid(), request)
                .await;
        }
        Step::BotMessage { conv, take_control } => {
            let text = format!("bot answer {index}");
            ledger.agent_texts.push(text.clone());
            let request = MessageRequest {
                text,
                acting: Some("bot".into()),
                take_control: *take_control,
                reset_after: false,
            };
            let _ = world
                .control
                .send_message(conv.page_id(), &conv.psid(), request)
                .await;
        }
        Step::BotPass(conv) => act(*conv, control("pass", "bot", Some("inbox"))).await,
        Step::BotRelease(conv) => act(*conv, control("release", "bot", None)).await,
        Step::InboxRequest(conv) => act(*conv, control("request", "inbox", None)).await,
        Step::Extend(conv) => act(*conv, control("extend", "inbox", None)).await,
        Step::Reset(conv) => act(*conv, control("reset", "inbox", None)).await,
        Step::PageInboxReply(conv) => {
            let body = json!({"page_id": conv.page_id(), "psid": conv.psid(), "text": format!("page inbox reply {index}")});
            world.emulator_post("inbox/reply", body).await;
        }
        Step::MarkRead(conv) => {
            let _ = world.control.mark_read(conv.page_id(), &conv.psid()).await;
        }
        Step::AdvanceClock { secs } => world.advance_clock(Duration::from_secs(*secs as u64)).await,
        Step::Sweep => sweep(world).await,
        Step::TtlStreamRecord(conv) => {
            let _ = world.reset.reset(conv.page_id(), &conv.psid()).await;
        }
        Step::ResyncBatch => resync_batch(world, 10).await,
        Step::ResyncOne(conv) => {
            let _ = world.resync.resync(conv.page_id(), &conv.psid()).await;
        }
    }
}

pub async fn sweep(world: &World) {
    let limits = SweepLimits {
        stop_at: Instant::now() + Duration::from_secs(60),
        concurrency: 4,
        page_size: 100,
    };
    let _ = world.reset.sweep(limits).await;
}

pub async fn resync_batch(world: &World, lease_slice: u32) {
    let limits = ResyncLimits {
        stop_at: Instant::now() + Duration::from_secs(60),
        rate_per_second: 10_000,
        lease_slice,
    };
    world.resync.batch(limits).await;
}

/// Meta's faults end and everything owed is delivered; where Meta gave up on a delivery,
/// the customer writes once more (the next evidence a lost webhook leaves us); then a
/// sweep (the every-minute timer) and the re-sync batch.
pub async fn quiesce(world: &World, history: &History) {
    world.emulator_post("faults/reset", json!({})).await;
    world.settle().await;
    for conv in &history.conversations {
        if world.gave_up_on(*conv) {
            customer(world, *conv, "are you still there?").await;
        }
    }
    world.settle().await;
    sweep(world).await;
    world.settle().await;
    resync_batch(world, 1_000).await;
    world.settle().await;
}

/// Past every window (and Meta's own 24 h idle) and a sweep; twice, as a reset may leave a
/// thread to Meta's deadline first.
pub async fn expire_everything(world: &World) {
    for _ in 0..2 {
        world.advance_clock(Duration::from_secs(2 * 86_400)).await;
        sweep(world).await;
        world.settle().await;
    }
    resync_batch(world, 1_000).await;
    world.settle().await;
}
