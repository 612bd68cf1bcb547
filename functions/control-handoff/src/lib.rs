//! control-handoff: the conversation API behind API Gateway (HTTP API, payload 2.0) or a
//! function URL. A thin adapter: every decision is in `routing_core::handoff`.

use std::collections::HashMap;

use lambda_http::{Body, Request, RequestExt, Response};
use routing_core::handoff::ControlService;
use routing_core::http::Reply;

/// Handle one request. Never fails: every outcome is an HTTP reply.
pub async fn handle(service: &ControlService, request: Request) -> Response<Body> {
    let path = request.uri().path().to_string();
    let query: HashMap<String, String> = request
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let reply = service
        .handle(
            request.method().as_str(),
            &path,
            &query,
            authorization,
            request.body().as_ref(),
        )
        .await;
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
