//! control-handoff: the conversation API behind API Gateway (HTTP API, payload 2.0) or a
//! function URL, and the agents' console page ([`console`]). A thin adapter: the routes are
//! `routing_core::http::control_api`, every decision is in `routing_usecases::control`.

pub mod console;

use lambda_http::{Body, Request, Response};
use routing_core::http::control_api::{self, ApiRequest};
use routing_core::lambda::{api_credentials, header_text, into_response, query_map};
use routing_usecases::control::ControlService;

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(service: &ControlService, request: Request) -> Response<Body> {
    // The console page is static: no token.
    if let Some(page) = console::serve(request.method().as_str(), request.uri().path()) {
        return into_response(page);
    }
    let query = query_map(&request);
    let authorization = api_credentials(&request);
    // Read even when it is not visible ASCII, so that such a key is refused (400), never
    // ignored.
    let idempotency_key = header_text(&request, "idempotency-key");
    let api_request = ApiRequest {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: &query,
        authorization: authorization.as_deref(),
        idempotency_key: idempotency_key.as_deref(),
        body: request.body().as_ref(),
    };
    into_response(control_api::serve(service, api_request).await)
}

/// Environment variables this function reads, beyond the common ones
/// (`routing_core::settings::COMMON_ENVIRONMENT`).
pub const EXTRA_ENVIRONMENT: &[&str] = &[];

/// Every DynamoDB action this function performs on the table and its indexes (checked
/// against a counting client in the tests and against the template's policy).
/// (`PutItem` and `DeleteItem`: the idempotency keys of agent actions.)
pub const TABLE_ACTIONS: &[&str] = &[
    "GetItem",
    "Query",
    "TransactWriteItems",
    "PutItem",
    "DeleteItem",
];
