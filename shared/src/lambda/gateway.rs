//! Between the HTTP contract's [`Reply`] and Lambda's API Gateway / function URL types, for
//! every HTTP function alike.

use std::collections::HashMap;

use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::http::Reply;

/// A reply as a Lambda HTTP response.
pub fn into_response(reply: Reply) -> Response<Body> {
    let mut response = Response::new(Body::Text(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(reply.content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
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
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    response.body = Some(Body::Text(reply.body));
    response
}
