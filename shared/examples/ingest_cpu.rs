//! The CPU cost of webhook-ingest per event, without the network, next to the irreducible
//! work on the same bytes in the same run: for signed deliveries of 1, 10, 100 and 1000
//! message events (over up to 50 conversations), the whole `POST /webhook` path on
//! `MemoryStore` (a fresh store per delivery) and HMAC-SHA256 verification plus
//! `serde_json` parsing into a `Value`; prints both per event and their ratio. The
//! criterion benchmark `benches/ingest.rs` measures the same two things more carefully.
//! A benchmark: it prints, it asserts nothing.
//!
//! `cargo run --release -p routing-core --features testing --example ingest_cpu -- [events per size, default 20000]`
//!
//! For instruction counts (repeatable on a busy machine), run it under
//! `valgrind --tool=callgrind` with `INGEST_CPU_SIZES` (e.g. `1` or `1,1000`) and
//! `INGEST_CPU_PART` = `full`, `floor` or `none` (only that part runs): a part's
//! instructions are its total minus the `none` run's.

use routing_core::meta::webhook::MetaWebhooks;
use std::sync::Arc;
use std::time::{Duration, Instant};

use routing_core::meta::webhook::{sign, verify_signature};
use routing_core::store::MemoryStore;
use routing_domain::SystemClock;
use routing_usecases::records::Records;
use routing_usecases::testing::{config, entry, envelope_of_entries, message, BOT, BOT_SECRET};

fn delivery(events: usize, round: usize) -> (Vec<u8>, String) {
    let entries = (0..events)
        .map(|i| {
            let psid = format!("5{:04}", i % 50);
            let at = 1_795_000_000_000 + (round * events + i) as i64;
            entry(
                "messaging",
                vec![message(
                    &psid,
                    at,
                    &format!("m.cpu.{round}.{i}"),
                    "Where is my order #1042?",
                )],
            )
        })
        .collect();
    let body = envelope_of_entries(entries).to_string().into_bytes();
    let signature = sign(BOT_SECRET.as_bytes(), &body);
    (body, signature)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    println!("CPU per event (release, one thread): full ingest path on MemoryStore vs HMAC-SHA256 + serde_json of the same bytes");
    let sizes: Vec<usize> = std::env::var("INGEST_CPU_SIZES")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 10, 100, 1000]);
    let part = std::env::var("INGEST_CPU_PART").unwrap_or_default();
    let (run_full, run_floor) = match part.as_str() {
        "full" => (true, false),
        "floor" => (false, true),
        "none" => (false, false),
        _ => (true, true),
    };
    for events in sizes {
        let rounds = (total / events).max(3);
        let deliveries: Vec<(Vec<u8>, String)> = (0..rounds).map(|r| delivery(events, r)).collect();
        let mut full = Duration::ZERO;
        let mut ok = 0;
        // Parsed once, as a function does at start-up.
        let config = config();
        for (body, signature) in deliveries.iter().filter(|_| run_full) {
            let ingest = MetaWebhooks::ingest(Records::new(
                config.clone(),
                Arc::new(MemoryStore::new()),
                Arc::new(SystemClock),
            ));
            let started = Instant::now();
            if let Ok(report) = ingest.receive(BOT, Some(signature), body).await {
                ok += report.written;
            }
            full += started.elapsed();
        }
        let started = Instant::now();
        let mut parsed = 0;
        for (body, signature) in deliveries.iter().filter(|_| run_floor) {
            if verify_signature(BOT_SECRET.as_bytes(), body, Some(signature)).is_ok() {
                let value: Result<serde_json::Value, _> = serde_json::from_slice(body);
                parsed += usize::from(value.is_ok());
            }
        }
        let floor = started.elapsed();
        let n = (rounds * events) as f64;
        let (full_us, floor_us) = (full.as_secs_f64() * 1e6 / n, floor.as_secs_f64() * 1e6 / n);
        println!(
            "  {events:>4} events a delivery ({rounds} deliveries, {ok} events written, {parsed} parsed): full {full_us:6.2} µs, floor {floor_us:5.2} µs, ratio {:.2}",
            full_us / floor_us
        );
    }
}
