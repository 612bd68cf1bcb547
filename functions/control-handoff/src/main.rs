//! Lambda entry point: read configuration and build clients once per container.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use routing_core::config::CoordinatorConfig;
use routing_core::domain::SystemClock;
use routing_core::graph::GraphClient;
use routing_core::handoff::ControlService;
use routing_core::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    let config = Arc::new(CoordinatorConfig::from_env()?);
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let client = DynamoStore::client_from_env(None).await;
    let service = ControlService::new(
        config,
        Arc::new(DynamoStore::new(client, table)),
        Arc::new(GraphClient::from_env()?),
        Arc::new(SystemClock),
    );
    let service = &service;
    run(service_fn(move |request| async move {
        Ok::<_, Infallible>(control_handoff::handle(service, request).await)
    }))
    .await
}
