//! webhook-ingest's CPU per event against the irreducible work, in the same run: for
//! signed deliveries of 1, 10, 100 and 1000 message events (over up to 50 conversations),
//! - `ingest/full/N`: the whole `POST /webhook` path on `MemoryStore` (signature check,
//!   parsing, grouping, the rules, the writes), a fresh store for every delivery;
//! - `ingest/floor/N`: HMAC-SHA256 verification of the same bytes plus `serde_json`
//!   parsing them into a `Value`: what any correct ingest must do.
//!
//! Criterion reports time per event (throughput in elements); the ratio full / floor is
//! the overhead the design adds. A benchmark: it reports numbers, it asserts nothing.
//!
//! `cargo bench -p routing-core --features testing --bench ingest`

use routing_core::meta::webhook::MetaWebhooks;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use routing_core::meta::webhook::{sign, verify_signature};
use routing_core::store::MemoryStore;
use routing_domain::SystemClock;
use routing_usecases::records::Records;
use routing_usecases::testing::{config, entry, envelope_of_entries, message, BOT, BOT_SECRET};

/// A signed delivery of `events` message events over up to 50 conversations.
fn delivery(events: usize) -> (Vec<u8>, String) {
    let entries = (0..events)
        .map(|i| {
            let psid = format!("5{:04}", i % 50);
            let at = 1_795_000_000_000 + i as i64;
            entry(
                "messaging",
                vec![message(
                    &psid,
                    at,
                    &format!("m.bench.{i}"),
                    "Where is my order #1042?",
                )],
            )
        })
        .collect();
    let body = envelope_of_entries(entries).to_string().into_bytes();
    let signature = sign(BOT_SECRET.as_bytes(), &body);
    (body, signature)
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("ingest");
    for events in [1usize, 10, 100, 1000] {
        let (body, signature) = delivery(events);
        group.throughput(Throughput::Elements(events as u64));
        group.bench_function(format!("full/{events}"), |b| {
            b.iter_batched(
                || {
                    MetaWebhooks::ingest(Records::new(
                        config(),
                        Arc::new(MemoryStore::new()),
                        Arc::new(SystemClock),
                    ))
                },
                |ingest| {
                    let report = runtime
                        .block_on(ingest.receive(BOT, Some(&signature), &body))
                        .expect("the delivery is applied");
                    assert_eq!(report.written, events);
                    ingest
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("floor/{events}"), |b| {
            b.iter(|| {
                verify_signature(BOT_SECRET.as_bytes(), black_box(&body), Some(&signature))
                    .expect("a valid signature");
                let parsed: serde_json::Value =
                    serde_json::from_slice(black_box(&body)).expect("JSON");
                parsed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
