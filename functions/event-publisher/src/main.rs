//! Lambda entry point: build the EventBridge client once per container, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::lambda::start;
use routing_core::settings::PublisherSettings;
use serde_json::Value;

fn main() -> Result<(), Error> {
    start(|settings: PublisherSettings| async move {
        let publisher = routing_core::lambda::event_publisher(&settings).await;
        let publisher = &publisher;
        run(service_fn(move |event: LambdaEvent<Value>| async move {
            event_publisher::handle(publisher, event.payload).await
        }))
        .await
    })
}
