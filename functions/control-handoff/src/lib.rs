//! control-handoff: the conversation API behind API Gateway (HTTP API, payload 2.0) or a
//! function URL. A thin adapter: the routes are `routing_core::http::control_api`, every
//! decision is in `routing_core::services::control`.

use lambda_http::{Body, Request, Response};
use routing_core::http::control_api;
use routing_core::lambda::{api_credentials, into_response, query_map};
use routing_core::services::control::ControlService;

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(service: &ControlService, request: Request) -> Response<Body> {
    let reply = control_api::handle(
        service,
        request.method().as_str(),
        request.uri().path(),
        &query_map(&request),
        api_credentials(&request).as_deref(),
        request.body().as_ref(),
    )
    .await;
    into_response(reply)
}

/// Environment variables this function reads, beyond the common ones
/// (`routing_core::settings::COMMON_ENVIRONMENT`).
pub const EXTRA_ENVIRONMENT: &[&str] = &[];

/// Every DynamoDB action this function performs on the table and its indexes (checked
/// against a counting client in the tests and against the template's policy).
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];
