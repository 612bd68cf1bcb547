//! resync: asks the Graph API who owns a thread and corrects the record, on demand
//! (`POST /pages/{page_id}/conversations/{psid}/resync`, API Gateway HTTP API payload 2.0
//! or a function URL) and as a scheduled batch (EventBridge Scheduler). One binary serves
//! both triggers. A thin adapter: every decision is in `routing_usecases::resync`.

use std::time::Instant;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use routing_core::http::{resync_api, Reply};
use routing_core::lambda::{
    api_credentials, gateway_response, request_of_gateway_event, InvocationError,
};
use routing_usecases::resync::{Resync, ResyncLimits};
use serde_json::Value;

/// Environment variables this function reads, beyond the common ones
/// (`routing_core::settings::COMMON_ENVIRONMENT`).
pub const EXTRA_ENVIRONMENT: &[&str] = routing_core::settings::RESYNC_ENVIRONMENT;

/// Every DynamoDB action this function performs on the table and its indexes.
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];

/// The HTTP routes this function serves (API Gateway).
pub const ROUTES: &[(&str, &str)] = &[("POST", "/pages/{page_id}/conversations/{psid}/resync")];

/// Handle one invocation. A payload with `requestContext` is an HTTP request (answered
/// with an API Gateway payload 2.0 response, whatever the status); a DynamoDB stream or an
/// action other than `batch` is refused; anything else runs the scheduled batch within
/// `limits`, starting no Graph call after `stop_at` (`work_until` of the deadline).
pub async fn handle(
    resync: &Resync,
    limits: ResyncLimits,
    payload: Value,
    stop_at: Instant,
) -> Result<Value, InvocationError> {
    if payload.get("requestContext").is_some() {
        let request: ApiGatewayV2httpRequest = serde_json::from_value(payload)
            .map_err(|e| InvocationError::BadEvent(format!("API Gateway payload 2.0: {e}")))?;
        let reply = on_request(resync, request).await;
        return Ok(response(reply));
    }
    if payload.get("Records").is_some() {
        return Err(InvocationError::BadEvent(
            "Records: this function has no stream trigger".into(),
        ));
    }
    match payload.get("action").and_then(Value::as_str) {
        None | Some("batch") => {}
        Some(other) => {
            return Err(InvocationError::BadEvent(format!(
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
        pages_rate_limited = report.pages_rate_limited,
        deferred = report.deferred,
        stopped_early = report.stopped_early,
        graph_unavailable = report.graph_unavailable,
        graph_calls = report.graph_calls,
        "re-sync batch done"
    );
    if report.store_unavailable && report.examined == 0 {
        return Err(InvocationError::StoreUnavailable(
            "the re-sync batch could not list conversations".into(),
        ));
    }
    Ok(serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// The HTTP request, decoded by `lambda_http` like the other HTTP functions' requests,
/// through the contract's router.
async fn on_request(resync: &Resync, request: ApiGatewayV2httpRequest) -> Reply {
    let request = request_of_gateway_event(request);
    resync_api::handle(
        resync,
        request.method().as_str(),
        request.uri().path(),
        api_credentials(&request).as_deref(),
        request.body().as_ref(),
    )
    .await
}

/// A reply as an API Gateway payload 2.0 response.
pub fn response(reply: Reply) -> Value {
    serde_json::to_value(gateway_response(reply)).unwrap_or(Value::Null)
}
