//! Lambda entry point: read configuration and build clients once per container.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda_adapter::{work_until, Services};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    let reset = Services::from_env().await?.timed_reset();
    let reset = &reset;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let stop_at = work_until(event.context.deadline);
        timed_reset::handle(reset, event.payload, stop_at).await
    }))
    .await
}
