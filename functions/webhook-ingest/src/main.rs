//! Lambda entry point: build the clients once per container, then serve.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error};
use routing_core::lambda::{start, Services};
use routing_core::settings::Settings;

fn main() -> Result<(), Error> {
    start(|settings: Settings| async move {
        // Trigger actions (handover payloads, keywords, granted requests) run inline.
        let ingest = Services::from_settings(&settings).await?.webhook_ingest();
        let ingest = &ingest;
        run(service_fn(move |request| async move {
            Ok::<_, Infallible>(webhook_ingest::handle(ingest, request).await)
        }))
        .await
    })
}
