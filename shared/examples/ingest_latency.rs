//! How long webhook-ingest takes to answer one of Meta's batched deliveries at DynamoDB's
//! latency: a signed 1000-event POST (message events, one per entry) over 50
//! conversations, over 1000, and all in one conversation, each then re-delivered (Meta's
//! retry: every event a duplicate). The store is `MemoryStore` behind `LatencyStore`
//! (by default 5 ms a read, 15 ms a transaction, 10 ms a put). Each shape runs batched
//! (the design) and per event (`with_batches(false)`: one read and one write per event,
//! the design before batches). Meta retries a POST not answered within 5 s. A benchmark:
//! it prints, it asserts nothing about time.
//!
//! `cargo run --release -p routing-core --features testing --example ingest_latency -- [events] [read ms] [transaction ms]`

use routing_core::meta::webhook::MetaWebhooks;
use std::sync::Arc;
use std::time::{Duration, Instant};

use routing_core::meta::webhook::sign;
use routing_core::store::MemoryStore;
use routing_domain::SystemClock;
use routing_usecases::records::Records;
use routing_usecases::testing::{
    config, entry, envelope_of_entries, message, Latency, LatencyStore, BOT, BOT_SECRET,
};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: u64| {
        args.next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let events = number(1000) as usize;
    let latency = Latency {
        read: Duration::from_millis(number(5)),
        transact_write: Duration::from_millis(number(15)),
        ..Latency::default()
    };
    println!(
        "{events}-event POST, store latency {} ms a read, {} ms a transaction (Meta retries after 5 s)",
        latency.read.as_millis(),
        latency.transact_write.as_millis()
    );
    let shapes = [50, 1000, 1].map(|c| (c, true));
    for (conversations, batches) in shapes.into_iter().chain([50, 1000, 1].map(|c| (c, false))) {
        let store = Arc::new(LatencyStore::new(Arc::new(MemoryStore::new()), latency));
        let ingest =
            MetaWebhooks::ingest(Records::new(config(), store.clone(), Arc::new(SystemClock)))
                .with_batches(batches);
        let design = if batches { "batched  " } else { "per event" };
        let entries = (0..events)
            .map(|i| {
                let psid = format!("5{:04}", i % conversations);
                let at = 1_795_000_000_000 + i as i64;
                entry(
                    "messaging",
                    vec![message(
                        &psid,
                        at,
                        &format!("m.lat.{i}"),
                        "Where is my order?",
                    )],
                )
            })
            .collect();
        let body = envelope_of_entries(entries).to_string().into_bytes();
        let signature = sign(BOT_SECRET.as_bytes(), &body);
        for delivery in ["first delivery", "re-delivery"] {
            let before = store.counts();
            let started = Instant::now();
            let answer = ingest.receive(BOT, Some(&signature), &body).await;
            let elapsed = started.elapsed().as_secs_f64();
            let after = store.counts();
            let (written, duplicates) = answer
                .as_ref()
                .map_or((0, 0), |r| (r.written, r.duplicates));
            println!(
                "  {design} {conversations:>4} conversations, {delivery:<14} {elapsed:6.2} s  {}  ({written} written, {duplicates} duplicates; {} reads, {} transactions)",
                if answer.is_err() { "FAILED" } else if elapsed <= 5.0 { "inside 5 s" } else { "misses 5 s" },
                after.reads - before.reads,
                after.transact_writes - before.transact_writes,
            );
        }
    }
}
