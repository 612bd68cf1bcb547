//! webhook-ingest: `GET/POST /webhook/{app_id}` behind API Gateway (HTTP API, payload 2.0)
//! or a function URL. A thin adapter: every decision is in `routing_core::ingest`.

use lambda_http::{Body, Request, RequestExt, Response};
use routing_core::http::{route_segments, ApiError, Reply};
use routing_core::ingest::WebhookIngest;

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(ingest: &WebhookIngest, request: Request) -> Response<Body> {
    let path = request.uri().path().to_string();
    let app_id = match route_segments(&path, "webhook").as_deref() {
        Some(["webhook", app_id]) => (*app_id).to_string(),
        _ => {
            return into_response(
                ApiError::not_found("unknown_route", "expected /webhook/{app_id}").reply(),
            )
        }
    };
    let reply = match request.method().as_str() {
        "GET" => {
            let query = request.query_string_parameters();
            ingest.verify_subscription(
                &app_id,
                query.first("hub.mode"),
                query.first("hub.verify_token"),
                query.first("hub.challenge"),
            )
        }
        "POST" => {
            let signature = request
                .headers()
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok());
            ingest
                .receive(&app_id, signature, request.body().as_ref())
                .await
        }
        other => {
            ApiError::method_not_allowed(format!("{other} is not allowed; use GET or POST")).reply()
        }
    };
    into_response(reply)
}

fn into_response(reply: Reply) -> Response<Body> {
    let mut response = Response::new(Body::Text(reply.body));
    *response.status_mut() =
        lambda_http::http::StatusCode::from_u16(reply.status).unwrap_or_default();
    if let Ok(value) = lambda_http::http::HeaderValue::from_str(reply.content_type) {
        response
            .headers_mut()
            .insert(lambda_http::http::header::CONTENT_TYPE, value);
    }
    response
}
