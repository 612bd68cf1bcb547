//! control-handoff: the conversation API behind API Gateway (HTTP API, payload 2.0) or a
//! function URL. A thin adapter: every decision is in `routing_core::handoff`.

use lambda_http::{Body, Request, Response};
use routing_core::handoff::ControlService;
use routing_core::lambda_adapter::{api_credentials, into_response, query_map};

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(service: &ControlService, request: Request) -> Response<Body> {
    let reply = service
        .handle(
            request.method().as_str(),
            request.uri().path(),
            &query_map(&request),
            api_credentials(&request).as_deref(),
            request.body().as_ref(),
        )
        .await;
    into_response(reply)
}

/// Environment variables this function reads, beyond the common ones.
pub const EXTRA_ENVIRONMENT: &[&str] = &[];

/// Every DynamoDB action this function performs on the table and its indexes (checked
/// against a counting client in the tests and against the template's policy).
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];
