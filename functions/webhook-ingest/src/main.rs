//! Lambda entry point: read configuration and build clients once per container.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use routing_core::config::CoordinatorConfig;
use routing_core::domain::{Clock, SystemClock};
use routing_core::graph::GraphClient;
use routing_core::handoff::ControlService;
use routing_core::ingest::WebhookIngest;
use routing_core::store::{DynamoStore, Store};

#[tokio::main]
async fn main() -> Result<(), Error> {
    routing_core::telemetry::init();
    let config = Arc::new(CoordinatorConfig::from_env()?);
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let client = DynamoStore::client_from_env(None).await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, table));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Trigger actions (handover payloads, keywords, granted requests) run inline.
    let actions = ControlService::new(
        config.clone(),
        store.clone(),
        Arc::new(GraphClient::from_env()?),
        clock.clone(),
    );
    let ingest = WebhookIngest::new(config, store, clock).with_actions(actions);
    let ingest = &ingest;
    run(service_fn(move |request| async move {
        Ok::<_, Infallible>(webhook_ingest::handle(ingest, request).await)
    }))
    .await
}
