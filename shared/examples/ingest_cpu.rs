//! The CPU cost of webhook-ingest per event, without the network: signature check, parsing,
//! the rules and an in-memory store, for signed one-message webhooks over 200
//! conversations. With DynamoDB's two round trips per event this bounds the Lambda
//! duration used in the README's cost estimate. A benchmark: it prints, it asserts nothing.
//!
//! `cargo run --release -p routing-core --features testing --example ingest_cpu -- 20000`

use std::sync::Arc;
use std::time::Instant;

use routing_core::domain::SystemClock;
use routing_core::services::ingest::WebhookIngest;
use routing_core::services::records::Records;
use routing_core::store::MemoryStore;
use routing_core::testing::{config, envelope, message, BOT, BOT_SECRET};
use routing_core::webhook::sign;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let ingest = WebhookIngest::new(Records::new(
        config(),
        Arc::new(MemoryStore::new()),
        Arc::new(SystemClock),
    ));
    let bodies: Vec<(Vec<u8>, String)> = (0..events)
        .map(|i| {
            let psid = format!("5{:04}", i % 200);
            let body = envelope(
                "messaging",
                vec![message(
                    &psid,
                    1_795_000_000_000 + i as i64,
                    &format!("m.cpu.{i}"),
                    "Where is my order?",
                )],
            )
            .to_string()
            .into_bytes();
            let signature = sign(BOT_SECRET.as_bytes(), &body);
            (body, signature)
        })
        .collect();
    let started = Instant::now();
    let mut ok = 0;
    for (body, signature) in &bodies {
        if ingest.receive(BOT, Some(signature), body).await.is_ok() {
            ok += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{events} signed message webhooks ({ok} answered 200) in {:.2} s: {:.1} µs per event (CPU, in-memory store)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / events as f64
    );
}
