//! webhook-ingest: `GET/POST /webhook/{app_id}` behind API Gateway (HTTP API, payload 2.0)
//! or a function URL. A thin adapter: the routes are `routing_core::http::webhook_api`,
//! every decision is in `routing_usecases::ingest`.

use lambda_http::{Body, Request, Response};
use routing_core::http::webhook_api;
use routing_core::lambda::{header, into_response, query_map};
use routing_usecases::ingest::WebhookIngest;

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(ingest: &WebhookIngest, request: Request) -> Response<Body> {
    let reply = webhook_api::handle(
        ingest,
        request.method().as_str(),
        request.uri().path(),
        &query_map(&request),
        header(&request, "x-hub-signature-256"),
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
/// Triggers run inline, so it also performs control-handoff's actions. `BatchGetItem`: a
/// conversation's batch of events reads which of their applied-event keys exist.
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "BatchGetItem", "TransactWriteItems", "PutItem"];
