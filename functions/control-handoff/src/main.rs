//! Lambda entry point: read the settings and build clients once per container, then serve.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error};
use routing_core::lambda::Services;
use routing_core::settings::Settings;

fn main() -> Result<(), Error> {
    // Before any thread starts (it may set SSL_CERT_FILE).
    routing_core::tls::prefer_system_bundle();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    let settings = Settings::from_env()?;
    routing_core::telemetry::init(&settings);
    let service = Services::from_settings(&settings).await?.control_service();
    let service = &service;
    run(service_fn(move |request| async move {
        Ok::<_, Infallible>(control_handoff::handle(service, request).await)
    }))
    .await
}
