//! Lambda entry point: read configuration and build clients once per container.

use std::time::Instant;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda_adapter::{work_until, Services};
use routing_core::resync::ResyncLimits;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    // Validated at start-up; each invocation sets its own stopping time.
    let limits = ResyncLimits::from_env(Instant::now())?;
    let resync = Services::from_env().await?.resync();
    let resync = &resync;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let stop_at = work_until(event.context.deadline);
        resync::handle(resync, limits, event.payload, stop_at).await
    }))
    .await
}
