//! Lambda entry point: read configuration and build clients once per container.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error};
use routing_core::ingest::WebhookIngest;
use routing_core::lambda_adapter::Services;

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    let services = Services::from_env().await?;
    // Trigger actions (handover payloads, keywords, granted requests) run inline.
    let ingest = WebhookIngest::new(
        services.config.clone(),
        services.store.clone(),
        services.clock.clone(),
    )
    .with_actions(services.control_service());
    let ingest = &ingest;
    run(service_fn(move |request| async move {
        Ok::<_, Infallible>(webhook_ingest::handle(ingest, request).await)
    }))
    .await
}
