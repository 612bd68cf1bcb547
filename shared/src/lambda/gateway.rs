//! Between the HTTP contract's [`Reply`] and Lambda's API Gateway / function URL types, for
//! every HTTP function alike.

use std::collections::HashMap;

use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::http::Reply;

/// A reply as a Lambda HTTP response.
pub fn into_response(reply: Reply) -> Response<Body> {
    let mut response = Response::new(Body::Text(String::new()));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or_default();
    insert_headers(response.headers_mut(), &reply);
    *response.body_mut() = Body::Text(reply.body);
    response
}

/// The reply's content type and security headers.
fn insert_headers(headers: &mut HeaderMap, reply: &Reply) {
    if let Ok(value) = HeaderValue::from_str(reply.content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    for (name, value) in reply.security_headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}

/// The query string as a map (first value of each key).
pub fn query_map(request: &Request) -> HashMap<String, String> {
    request
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A header's value, when it is text.
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A header's value as text even when it is not visible ASCII (bytes that are not UTF-8
/// become U+FFFD), for values that must be refused rather than ignored when unreadable
/// (`Idempotency-Key`).
pub fn header_text(request: &Request, name: &str) -> Option<String> {
    let value = request.headers().get(name)?;
    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The API credentials of a request, as an `Authorization` value for the services:
/// `X-Api-Token: <token>` when present (the gateway's own IAM or JWT authorization then
/// owns `Authorization`), else `Authorization: Bearer <token>` itself.
pub fn api_credentials(request: &Request) -> Option<String> {
    match header(request, "x-api-token") {
        Some(token) => Some(format!("Bearer {}", token.trim())),
        None => header(request, "authorization").map(str::to_string),
    }
}

/// An API Gateway HTTP API (payload 2.0) event as a request, decoded by `lambda_http`
/// itself (for functions whose events are not all HTTP).
pub fn request_of_gateway_event(event: ApiGatewayV2httpRequest) -> Request {
    LambdaRequest::ApiGatewayV2(event).into()
}

/// A reply as an API Gateway payload 2.0 response.
pub fn gateway_response(reply: Reply) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(reply.status);
    insert_headers(&mut response.headers, &reply);
    response.body = Some(Body::Text(reply.body));
    response
}
