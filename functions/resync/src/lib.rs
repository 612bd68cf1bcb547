//! resync: asks the Graph API who owns a thread and corrects the record, on demand
//! (`POST /pages/{page_id}/conversations/{psid}/resync`, API Gateway HTTP API payload 2.0
//! or a function URL) and as a scheduled batch (EventBridge Scheduler). One binary serves
//! both triggers. A thin adapter: every decision is in `routing_core::resync`.

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{HeaderValue, CONTENT_TYPE};
use base64::Engine;
use lambda_runtime::Diagnostic;
use routing_core::http::Reply;
use routing_core::lambda_adapter::api_credentials_in;
use routing_core::resync::{Resync, ResyncLimits};
use serde_json::Value;

/// Environment variables this function reads, beyond the common ones.
pub const EXTRA_ENVIRONMENT: &[&str] = &["RESYNC_RATE_PER_SECOND", "RESYNC_LEASE_SLICE"];

/// Every DynamoDB action this function performs on the table and its indexes.
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];

/// The HTTP routes this function serves (API Gateway).
pub const ROUTES: &[(&str, &str)] = &[("POST", "/pages/{page_id}/conversations/{psid}/resync")];

/// A failed invocation, with a Lambda error type saying whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum ResyncFnError {
    /// The event is not one this function understands: retrying cannot help.
    #[error("unrecognised event: {0}")]
    BadEvent(String),
    /// The batch could not list the conversations to re-sync (storage unavailable).
    #[error("storage is unavailable: the re-sync batch could not list conversations")]
    StoreUnavailable,
}

impl From<ResyncFnError> for Diagnostic {
    fn from(err: ResyncFnError) -> Self {
        let error_type = match &err {
            ResyncFnError::BadEvent(_) => "NonRetryable.BadEvent",
            ResyncFnError::StoreUnavailable => "Retryable.StoreUnavailable",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: err.to_string(),
        }
    }
}

/// Handle one invocation. An event with `requestContext` is an HTTP request (answered
/// with an API Gateway payload 2.0 response, whatever the status); a DynamoDB stream or an
/// action other than `batch` is refused; anything else runs the scheduled batch within
/// `limits`, starting no Graph call after `stop_at` (`work_until` of the deadline).
pub async fn handle(
    resync: &Resync,
    limits: ResyncLimits,
    event: Value,
    stop_at: Instant,
) -> Result<Value, ResyncFnError> {
    if event.get("requestContext").is_some() {
        let request: ApiGatewayV2httpRequest = serde_json::from_value(event)
            .map_err(|e| ResyncFnError::BadEvent(format!("API Gateway payload 2.0: {e}")))?;
        let reply = on_request(resync, &request).await;
        return Ok(response(reply));
    }
    if event.get("Records").is_some() {
        return Err(ResyncFnError::BadEvent(
            "Records: this function has no stream trigger".into(),
        ));
    }
    match event.get("action").and_then(Value::as_str) {
        None | Some("batch") => {}
        Some(other) => {
            return Err(ResyncFnError::BadEvent(format!(
                "action: {other:?} is not batch"
            )))
        }
    }
    let limits = ResyncLimits { stop_at, ..limits };
    let report = resync.batch(limits).await;
    tracing::info!(
        examined = report.examined,
        changed = report.changed,
        unchanged = report.unchanged,
        failed = report.failed,
        rate_limited = report.rate_limited,
        stopped_early = report.stopped_early,
        graph_unavailable = report.graph_unavailable,
        graph_calls = report.graph_calls,
        "re-sync batch done"
    );
    if report.store_unavailable && report.examined == 0 {
        return Err(ResyncFnError::StoreUnavailable);
    }
    Ok(serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// The HTTP request through the contract's router.
async fn on_request(resync: &Resync, request: &ApiGatewayV2httpRequest) -> Reply {
    let method = request.request_context.http.method.as_str();
    let path = request
        .raw_path
        .as_deref()
        .or(request.request_context.http.path.as_deref())
        .unwrap_or("/");
    // `X-Api-Token` when the gateway's own authorization owns `Authorization`.
    let authorization = api_credentials_in(&request.headers);
    let body = match (&request.body, request.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.clone().into_bytes(),
        (Some(text), true) => match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => {
                return routing_core::http::ApiError::bad_request(
                    "bad_body",
                    "body: not valid base64",
                )
                .reply()
            }
        },
    };
    resync
        .handle(method, path, authorization.as_deref(), &body)
        .await
}

/// A reply as an API Gateway payload 2.0 response.
pub fn response(reply: Reply) -> Value {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(reply.status);
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    response.body = Some(Body::Text(reply.body));
    serde_json::to_value(&response).unwrap_or(Value::Null)
}
