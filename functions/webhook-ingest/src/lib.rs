//! webhook-ingest: `GET/POST /webhook/{app_id}` behind API Gateway (HTTP API, payload 2.0)
//! or a function URL. A thin adapter: every decision is in `routing_core::ingest`.

use lambda_http::{Body, Request, Response};
use routing_core::http::{route_segments, ApiError};
use routing_core::ingest::WebhookIngest;
use routing_core::lambda_adapter::{header, into_response, query_map};

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(ingest: &WebhookIngest, request: Request) -> Response<Body> {
    let app_id = match route_segments(request.uri().path(), "webhook").as_deref() {
        Some(["webhook", app_id]) => *app_id,
        _ => {
            return into_response(
                ApiError::not_found("unknown_route", "expected /webhook/{app_id}").reply(),
            )
        }
    };
    let reply = match request.method().as_str() {
        "GET" => {
            let query = query_map(&request);
            ingest.verify_subscription(
                app_id,
                query.get("hub.mode").map(String::as_str),
                query.get("hub.verify_token").map(String::as_str),
                query.get("hub.challenge").map(String::as_str),
            )
        }
        "POST" => {
            ingest
                .receive(
                    app_id,
                    header(&request, "x-hub-signature-256"),
                    request.body().as_ref(),
                )
                .await
        }
        other => {
            ApiError::method_not_allowed(format!("{other} is not allowed; use GET or POST")).reply()
        }
    };
    into_response(reply)
}

/// Environment variables this function reads, beyond the common ones.
pub const EXTRA_ENVIRONMENT: &[&str] = &[];

/// Every DynamoDB action this function performs on the table and its indexes (checked
/// against a counting client in the tests and against the template's policy).
/// Triggers run inline, so it also performs control-handoff's actions.
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "TransactWriteItems", "PutItem"];
