//! Lambda entry point: read the settings and build clients once per container, then serve.

use std::time::Instant;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda::{work_until, Services};
use routing_core::settings::Settings;
use routing_usecases::resync::ResyncLimits;
use serde_json::Value;

fn main() -> Result<(), Error> {
    // Before any thread starts (it may set SSL_CERT_FILE).
    routing_core::tls::prefer_system_bundle();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    let settings = Settings::from_env()?;
    routing_core::telemetry::init(&settings);
    // Each invocation sets its own stopping time.
    let limits = ResyncLimits::new(Instant::now(), settings.resync);
    let resync = Services::from_settings(&settings).await?.resync();
    let resync = &resync;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let stop_at = work_until(event.context.deadline);
        resync::handle(resync, limits, event.payload, stop_at).await
    }))
    .await
}
