//! Lambda entry point: build the clients once per container, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda::{start, work_until, Services};
use routing_core::settings::Settings;
use serde_json::Value;

fn main() -> Result<(), Error> {
    start(|settings: Settings| async move {
        let reset = Services::from_settings(&settings).await?.timed_reset();
        let reset = &reset;
        let name = settings
            .function_name
            .as_deref()
            .unwrap_or(timed_reset::LOCAL_NAME);
        run(service_fn(move |event: LambdaEvent<Value>| async move {
            let stop_at = work_until(event.context.deadline);
            timed_reset::handle_as(name, reset, event.payload, stop_at).await
        }))
        .await
    })
}
