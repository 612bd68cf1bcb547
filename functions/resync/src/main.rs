//! Lambda entry point: build the clients once per container, then serve.

use std::time::Instant;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda::{start, work_until, Services};
use routing_core::settings::Settings;
use routing_usecases::resync::ResyncLimits;
use serde_json::Value;

fn main() -> Result<(), Error> {
    start(|settings: Settings| async move {
        // Each invocation sets its own stopping time.
        let limits = ResyncLimits::new(Instant::now(), settings.resync);
        let resync = Services::from_settings(&settings).await?.resync();
        let resync = &resync;
        run(service_fn(move |event: LambdaEvent<Value>| async move {
            let stop_at = work_until(event.context.deadline);
            resync::handle(resync, limits, event.payload, stop_at).await
        }))
        .await
    })
}
