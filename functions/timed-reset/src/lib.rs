//! timed-reset: returns control after a Page's window. Two triggers: an EventBridge
//! Scheduler event (the every-minute sweep) and DynamoDB stream records (TTL deletions of
//! lease items). A thin adapter: every decision is in `routing_usecases::timed_reset`.

use std::time::Instant;

use aws_lambda_events::event::dynamodb::EventRecord;
use futures::stream::{self, StreamExt};
use routing_core::lambda::stream::{lease_of, read_record, record_id, records_of};
use routing_core::lambda::InvocationError;
use routing_usecases::timed_reset::{ResetOutcome, SkipReason, SweepLimits, TimedReset};
use serde_json::{json, Value};

/// The metrics' `Function` dimension outside Lambda.
pub const LOCAL_NAME: &str = "timed-reset";

/// Environment variables this function reads, beyond the common ones
/// (`routing_core::settings::COMMON_ENVIRONMENT`).
pub const EXTRA_ENVIRONMENT: &[&str] = &[];

/// Every DynamoDB action this function performs on the table and its indexes
/// (checked against a counting client in the tests and against the template's policy).
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];

/// Resets in flight at once (each is a few DynamoDB requests and one Graph call).
pub const SWEEP_CONCURRENCY: usize = 8;
/// Leases read per index query.
pub const SWEEP_PAGE_SIZE: u32 = 100;
/// Handle one invocation: stream records (`Records` with `eventSource` `aws:dynamodb`)
/// or, for anything else, a scheduled sweep that starts no reset after `stop_at`
/// (`routing_core::lambda::work_until` of the invocation's deadline), named
/// [`LOCAL_NAME`] in its metrics.
pub async fn handle(
    reset: &TimedReset,
    payload: Value,
    stop_at: Instant,
) -> Result<Value, InvocationError> {
    handle_as(LOCAL_NAME, reset, payload, stop_at).await
}

/// [`handle`], with `function` (the Lambda function's name, so two stacks in one account
/// keep their metrics apart) as the metrics' `Function` dimension.
pub async fn handle_as(
    function: &str,
    reset: &TimedReset,
    payload: Value,
    stop_at: Instant,
) -> Result<Value, InvocationError> {
    if payload.get("Records").is_some() {
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for raw in records_of(payload)? {
            match read_record(raw) {
                Ok(record) => records.push(record),
                Err(id) => unreadable.push(json!({ "itemIdentifier": id })),
            }
        }
        let mut answer = on_stream(reset, &records, stop_at).await;
        if let Some(Value::Array(failures)) = answer.get_mut("batchItemFailures") {
            failures.extend(unreadable);
        }
        return Ok(answer);
    }
    let limits = SweepLimits {
        stop_at,
        concurrency: SWEEP_CONCURRENCY,
        page_size: SWEEP_PAGE_SIZE,
    };
    let report = reset.sweep(limits).await?;
    tracing::info!(
        due_found = report.due_found,
        reset = report.reset,
        left_to_meta = report.left_to_meta,
        waits_for_meta = report.waits_for_meta,
        rate_limited = report.rate_limited,
        pages_rate_limited = report.pages_rate_limited,
        deferred = report.deferred,
        graph_unavailable = report.graph_unavailable,
        shards_unavailable = report.shards_unavailable,
        restored = report.restored,
        flagged = report.flagged,
        skipped = report.skipped,
        failed = report.failed,
        stopped_early = report.stopped_early,
        "sweep done"
    );
    println!(
        "{}",
        sweep_metrics(function, report.lag_secs.unwrap_or(0), report.failed)
    );
    Ok(serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// The sweep's metrics as a CloudWatch embedded-metric-format line, with the dimension
/// `Function` = `function` (the template's sweep alarms read `SweepLagSeconds` and
/// `SweepFailedResets` of the stack's own timed-reset function).
pub fn sweep_metrics(function: &str, lag_secs: i64, failed: u64) -> Value {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "MessengerRouting",
                "Dimensions": [["Function"]],
                "Metrics": [
                    {"Name": "SweepLagSeconds", "Unit": "Seconds"},
                    {"Name": "SweepFailedResets", "Unit": "Count"}
                ]
            }]
        },
        "Function": function,
        "SweepLagSeconds": lag_secs,
        "SweepFailedResets": failed
    })
}

/// The stream path: each TTL deletion of a lease is reset; every other record is ignored.
/// Answers Lambda's partial batch response naming the records to retry: those that failed
/// for now, those another executor is resetting right now (retried until it is done), and
/// those not started before `stop_at`.
pub async fn on_stream(reset: &TimedReset, records: &[EventRecord], stop_at: Instant) -> Value {
    let failures: Vec<Value> = stream::iter(records)
        .map(|record| async move {
            let (page_id, psid) = lease_of(record)?;
            let retry = json!({ "itemIdentifier": record_id(record) });
            if Instant::now() >= stop_at {
                return Some(retry);
            }
            match reset.reset(&page_id, &psid).await {
                Ok(ResetOutcome::Skipped {
                    reason: SkipReason::ClaimedElsewhere,
                }) => Some(retry),
                Ok(outcome) => {
                    tracing::info!(page_id, ?outcome, "TTL deletion handled");
                    None
                }
                Err(err) if err.is_retryable() => {
                    tracing::warn!(page_id, error = %err, "TTL deletion will be retried");
                    Some(retry)
                }
                Err(err) => {
                    tracing::error!(page_id, error = %err, "TTL deletion cannot be handled; the sweep and re-sync remain");
                    None
                }
            }
        })
        .buffer_unordered(SWEEP_CONCURRENCY)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    json!({ "batchItemFailures": failures })
}
