//! The one adapter between the HTTP contract ([`Reply`]) and Lambda's API Gateway / function
//! URL types, shared by the HTTP functions (feature `lambda`).

use std::collections::HashMap;

use lambda_http::http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
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
