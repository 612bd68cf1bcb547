//! A load run of webhook-ingest in the local stack (the real debug binary behind the local
//! Lambda host, moto, the emulator): first signed message webhooks, one event per POST,
//! sent by a few concurrent senders like Meta's delivery (latency percentiles of the
//! function's answers); then one batched POST of 1000 events over 50 conversations, as
//! Meta sends after an outage, and its re-delivery (every event a duplicate), each with
//! its answer's time and the DynamoDB API server's peak memory. A benchmark: it reports
//! numbers and asserts nothing about time.
//!
//! `cargo build --workspace --bins && cargo run -p local-stack --example ingest_load -- [single POSTs, 400] [batch events, 1000] [batch conversations, 50]`
//!
//! `MOTO_TRANSACTIONS_COPY_TABLES=1` in the environment runs moto with its own whole-table
//! backup per transaction item (scripts/moto_server.py), to compare.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use local_stack::{local_config_path, Failure, Stack};
use routing_core::meta::webhook::sign;
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let arg = |n: usize, default: usize| -> Result<usize, Failure> {
        Ok(std::env::args()
            .nth(n)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let events = arg(1, 400)?;
    let batch_events = arg(2, 1000)?;
    let batch_conversations = arg(3, 50)?.max(1);
    let stack = Stack::start_hosted(&local_config_path()).await?;
    let config: Value = serde_json::from_str(&std::fs::read_to_string(local_config_path())?)?;
    let secret = config["apps"][0]["app_secret"].as_str().unwrap_or_default();
    let app = stack.cast.bot.id.clone();
    let page = stack.cast.page_id.clone();
    let url = format!(
        "{}/webhook/{app}",
        stack.api_base.as_deref().unwrap_or_default()
    );
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;

    let run = Instant::now();
    let latencies: Vec<Result<f64, Failure>> = stream::iter(0..events)
        .map(|i| {
            let body = json!({"object": "page", "entry": [{"id": page, "time": started + i as i64,
                "messaging": [{"sender": {"id": format!("6{:05}", i % 100)}, "recipient": {"id": page},
                               "timestamp": started + i as i64,
                               "message": {"mid": format!("m.load.{i}"), "text": "load"}}]}]})
            .to_string();
            let signature = sign(secret.as_bytes(), body.as_bytes());
            let http = stack.http.clone();
            let url = url.clone();
            async move {
                let sent = Instant::now();
                let response = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await?;
                if !response.status().is_success() {
                    return Err(format!("status {}", response.status()).into());
                }
                Ok(sent.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let elapsed = run.elapsed().as_secs_f64();
    let mut ok: Vec<f64> = latencies.into_iter().filter_map(Result::ok).collect();
    ok.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        ok.get(((ok.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{} message webhooks ({} answered 200) in {elapsed:.1} s, {:.0}/s; latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        events,
        ok.len(),
        ok.len() as f64 / elapsed,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );

    // One batched delivery, then Meta's retry of it.
    let entries: Vec<Value> = (0..batch_events)
        .map(|i| {
            let at = started + 1_000_000 + i as i64;
            json!({"id": page, "time": at, "messaging": [{
                "sender": {"id": format!("7{:05}", i % batch_conversations)},
                "recipient": {"id": page}, "timestamp": at,
                "message": {"mid": format!("m.batch.{i}"), "text": "batched"}}]})
        })
        .collect();
    let body = json!({"object": "page", "entry": entries}).to_string();
    let signature = sign(secret.as_bytes(), body.as_bytes());
    let moto = dynamo_local::server();
    for delivery in ["batch", "re-delivery"] {
        let sent = Instant::now();
        let answer = stack
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .body(body.clone())
            .timeout(std::time::Duration::from_secs(900))
            .send()
            .await;
        let elapsed = sent.elapsed().as_secs_f64();
        let status = match answer {
            Ok(response) => {
                let status = response.status();
                let report: Value = response.json().await.unwrap_or(Value::Null);
                format!(
                    "{status}, {} written, {} duplicates",
                    report["written"], report["duplicates"]
                )
            }
            Err(err) => format!("no answer: {err}"),
        };
        let peak = moto.peak_memory_kib().map_or("unknown".to_string(), |kib| {
            format!("{:.0} MiB", kib as f64 / 1024.0)
        });
        println!(
            "{batch_events}-event POST over {batch_conversations} conversations, {delivery:<11}: {elapsed:6.1} s ({status}); DynamoDB API server peak memory {peak}"
        );
    }
    Ok(())
}
