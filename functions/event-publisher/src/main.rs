//! Lambda entry point: read the settings and build the EventBridge client once per
//! container, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing_core::settings::PublisherSettings;
use serde_json::Value;

fn main() -> Result<(), Error> {
    // Before any thread starts (it may set SSL_CERT_FILE).
    routing_core::tls::prefer_system_bundle();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    let settings = PublisherSettings::from_env()?;
    routing_core::telemetry::init_with(
        settings.log_filter.as_deref(),
        settings.function_name.is_some(),
    );
    let publisher = routing_core::lambda::event_publisher(&settings).await;
    let publisher = &publisher;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        event_publisher::handle(publisher, event.payload).await
    }))
    .await
}
