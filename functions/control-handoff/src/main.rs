//! Lambda entry point: build the clients once per container, then serve.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error};
use routing_core::lambda::{start, Services};
use routing_core::settings::Settings;

fn main() -> Result<(), Error> {
    start(|settings: Settings| async move {
        let service = Services::from_settings(&settings).await?.control_service();
        let service = &service;
        run(service_fn(move |request| async move {
            Ok::<_, Infallible>(control_handoff::handle(service, request).await)
        }))
        .await
    })
}
