//! Lambda entry point: read configuration and build clients once per container.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda_adapter::Services;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    let reset = Services::from_env().await?.timed_reset();
    let reset = &reset;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = instant_of(event.context.deadline);
        timed_reset::handle(reset, event.payload, deadline).await
    }))
    .await
}

/// The invocation's deadline (epoch milliseconds) as an `Instant`.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
