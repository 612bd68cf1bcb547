//! Lambda entry point: read configuration and build clients once per container.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error};
use routing_core::lambda_adapter::Services;

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    let service = Services::from_env().await?.control_service();
    let service = &service;
    run(service_fn(move |request| async move {
        Ok::<_, Infallible>(control_handoff::handle(service, request).await)
    }))
    .await
}
