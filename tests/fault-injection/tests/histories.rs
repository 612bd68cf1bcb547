//! The checker's runs: `FAULT_HISTORIES` histories (default 300) on `MemoryStore` and
//! `FAULT_HISTORIES_DYNAMO` (default 10) on DynamoDB (moto), seeds from `FAULT_FIRST_SEED`
//! (default 1) on; `FAULT_SEED=<seed>` replays exactly one history on both stores. A
//! failing history prints its seed, its faults and a shrunk list of steps. Half the
//! histories let Meta's deliveries race the next steps, as in production (replayed with
//! the same steps and faults, not the same interleaving); `FAULT_SETTLED` makes every
//! step wait for its deliveries (an exact replay).

use std::sync::Arc;

use fault_injection::{run, shrink, History, Played};
use futures::stream::{self, StreamExt};
use routing_core::store::{DynamoStore, MemoryStore};
use routing_usecases::ports::Store;

const MIN_STEPS: usize = 50;
const MAX_STEPS: usize = 500;
/// Histories on moto are shorter: moto serves one request at a time.
const MAX_STEPS_ON_MOTO: usize = 120;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn seeds(count_var: &str, default_count: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("FAULT_SEED") {
        return vec![seed.trim().parse().expect("FAULT_SEED is a number")];
    }
    let first = env_number("FAULT_FIRST_SEED", 1);
    (first..first + env_number(count_var, default_count)).collect()
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

async fn dynamo() -> Arc<dyn Store> {
    let server = dynamo_local::server();
    let client = DynamoStore::local_client(server.endpoint(), None);
    let store = DynamoStore::new(client, dynamo_local::unique_table_name("faults"));
    store.create_table().await.expect("table created on moto");
    Arc::new(store)
}

/// Histories played at once on `MemoryStore` (each has its own emulator, store and
/// services); on moto, which serves one request at a time, fewer.
const AT_ONCE: usize = 8;
const AT_ONCE_ON_MOTO: usize = 2;
/// Replays the shrinker may spend on a failing history.
const SHRINK_REPLAYS: usize = 40;

/// Play every seed (a few at once); panic with the first failing history, shrunk.
async fn check_all<F, Fut>(
    label: &str,
    seeds: Vec<u64>,
    (at_once, max_steps): (usize, usize),
    store: F,
) where
    F: Fn() -> Fut + Copy,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    let count = seeds.len();
    let results: Vec<(History, Played, Vec<String>)> = stream::iter(seeds)
        .map(|seed| async move {
            let racing = std::env::var_os("FAULT_SETTLED").is_none();
            let history = History::generate(seed, MIN_STEPS, max_steps, racing);
            let (played, violations) = run(&history, store().await).await;
            (history, played, violations)
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let steps: usize = results.iter().map(|(_, p, _)| p.steps).sum();
    let faults: usize = results.iter().map(|(_, p, _)| p.faults).sum();
    let racing = results.iter().filter(|(_, p, _)| p.racing).count();
    let bot_answers: usize = results.iter().map(|(_, p, _)| p.bot_answers).sum();
    let mut by_kind = std::collections::BTreeMap::new();
    for (_, played, _) in &results {
        for (kind, n) in &played.faults_by_kind {
            *by_kind.entry(*kind).or_insert(0) += n;
        }
    }
    if let Some((history, _, violations)) = results
        .iter()
        .filter(|(_, _, v)| !v.is_empty())
        .min_by_key(|(h, _, _)| h.seed)
    {
        let seed = history.seed;
        let shrunk = shrink(history, store, SHRINK_REPLAYS).await;
        let (_, again) = run(&shrunk, store().await).await;
        panic!(
            "{label}: history {seed} fails:\n  {}\nshrunk to {} steps (failing again: {}):\n{shrunk}\nreplay: FAULT_SEED={seed} cargo test -p fault-injection",
            violations.join("\n  "),
            shrunk.steps.len(),
            again.join("; "),
        );
    }
    eprintln!(
        "fault-injection {label}: {count} histories ({racing} racing), {steps} steps, {faults} faults injected {by_kind:?}, {bot_answers} bot answers sent: every invariant held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_on_memory_store_converge_to_meta() {
    check_all(
        "memory_store",
        seeds("FAULT_HISTORIES", 300),
        (AT_ONCE, MAX_STEPS),
        || async { memory() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_on_dynamodb_converge_to_meta() {
    check_all(
        "dynamodb_on_moto",
        seeds("FAULT_HISTORIES_DYNAMO", 10),
        (AT_ONCE_ON_MOTO, MAX_STEPS_ON_MOTO),
        dynamo,
    )
    .await;
}

/// Histories that found bugs (see docs/testing.md, "Fault injection"), replayed on every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_that_found_bugs_still_pass() {
    check_all(
        "regressions",
        vec![1, 6, 11, 19, 80, 203, 209, 90368, 150068],
        (AT_ONCE, MAX_STEPS),
        || async { memory() },
    )
    .await;
}
