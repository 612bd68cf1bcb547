//! A randomized fault-injection checker: seeded histories of Messenger traffic with Meta's
//! faults (duplicated, dropped-then-retried and reordered webhook deliveries, Graph errors,
//! refusals, rate limits and slow answers), played against the real services and the
//! Messenger emulator, then checked once quiet (`check`).
//!
//! - `history`: a history from a seed (conversations, steps, faults);
//! - `world`: the emulator, the store and the services the history plays against;
//! - `play`: playing the steps, quiescing, expiring every window;
//! - `check`: the invariants.

pub mod check;
pub mod history;
pub mod play;
pub mod world;

use std::sync::Arc;

use routing_usecases::ports::Store;

pub use history::History;

/// What one history did.
#[derive(Debug, Default, Clone)]
pub struct Played {
    pub steps: usize,
    pub faults: usize,
    pub faults_by_kind: std::collections::BTreeMap<&'static str, usize>,
    pub racing: bool,
    /// Messages Meta accepted from the bot through the control API.
    pub bot_answers: usize,
}

/// Play `history` on a fresh `store` and check it: the violations (empty: it passed).
pub async fn run(history: &History, store: Arc<dyn Store>) -> (Played, Vec<String>) {
    let world = world::World::start(store).await;
    let ledger = play::play(&world, history).await;
    play::quiesce(&world, history).await;
    let mut violations = check::quiet(&world, history, &ledger).await;
    let bot_answers = world.emulator_get("messages").await["messages"]
        .as_array()
        .map_or(0, |sent| {
            sent.iter()
                .filter(|m| {
                    m["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("bot answer"))
                })
                .count()
        });
    play::expire_everything(&world).await;
    let expired = check::expired(&world, history).await;
    violations.extend(
        expired
            .into_iter()
            .map(|v| format!("after every window: {v}")),
    );
    let played = Played {
        steps: history.steps.len(),
        faults: ledger.faults_armed,
        faults_by_kind: ledger.faults_by_kind,
        racing: history.racing,
        bot_answers,
    };
    (played, violations)
}

/// A smaller history that still fails (greedy: drop chunks of steps, then single steps,
/// while it keeps failing), within `budget` replays.
pub async fn shrink<F, Fut>(history: &History, mut store: F, budget: usize) -> History
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    let mut smallest = history.clone();
    let mut replays = 0;
    let mut chunk = (smallest.steps.len() / 2).max(1);
    while chunk >= 1 && replays < budget {
        let mut start = 0;
        while start < smallest.steps.len() && replays < budget {
            let mut steps = smallest.steps.clone();
            let end = (start + chunk).min(steps.len());
            steps.drain(start..end);
            let candidate = smallest.with_steps(&steps);
            replays += 1;
            if !run(&candidate, store().await).await.1.is_empty() {
                smallest = candidate;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    smallest
}
