//! The one adapter between the HTTP contract ([`Reply`]) and Lambda's API Gateway / function
//! URL types, and the clients every function builds at start-up (feature `lambda`).

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::config::{ConfigSource, CoordinatorConfig};
use crate::domain::{Clock, SystemClock};
use crate::graph::{GraphApi, GraphClient};
use crate::handoff::ControlService;
use crate::http::Reply;
use crate::store::{DynamoStore, Store};

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
    header_in(request.headers(), name)
}

fn header_in<'h>(headers: &'h lambda_http::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The API credentials of a request, as an `Authorization` value for the services:
/// `X-Api-Token: <token>` when present (the gateway's own IAM or JWT authorization then
/// owns `Authorization`), else `Authorization: Bearer <token>` itself.
pub fn api_credentials(request: &Request) -> Option<String> {
    api_credentials_in(request.headers())
}

/// [`api_credentials`] from the headers alone (for functions that read the API Gateway
/// event themselves).
pub fn api_credentials_in(headers: &lambda_http::http::HeaderMap) -> Option<String> {
    match header_in(headers, "x-api-token") {
        Some(token) => Some(format!("Bearer {}", token.trim())),
        None => header_in(headers, "authorization").map(str::to_string),
    }
}

/// How long a scheduled run may work when the invocation carries no usable deadline
/// (local runners may send none).
pub const UNKNOWN_DEADLINE_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);
/// A scheduled run starts no new work this long before its deadline (or a third of the
/// remaining time, when that is shorter).
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// When a scheduled run (the sweep, the re-sync batch) stops starting new work, given the
/// invocation's deadline in epoch milliseconds: before the deadline by
/// [`DEADLINE_MARGIN`], so the rest is left for the next run and never cut off mid-way.
pub fn work_until(deadline_ms: u64) -> std::time::Instant {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    if remaining < Duration::from_secs(1) {
        tracing::warn!("the invocation has no usable deadline; working for at most 60 s");
        remaining = UNKNOWN_DEADLINE_BUDGET;
    }
    Instant::now() + remaining - DEADLINE_MARGIN.min(remaining / 3)
}

/// The environment variables every function reads (DESIGN §5). The infrastructure
/// template may set only names a function lists (checked by `tests/infra-check`).
pub const COMMON_ENVIRONMENT: &[&str] = &[
    "TABLE_NAME",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "GRAPH_API_BASE_URL",
    "GRAPH_API_VERSION",
    "RUST_LOG",
    crate::config::CONFIG_FILE_ENV,
    crate::config::CONFIG_SECRET_ENV,
];

/// What every function builds once per container, from the environment: the configuration
/// document, the DynamoDB store (`TABLE_NAME`, `AWS_ENDPOINT_URL_DYNAMODB`), the Graph API
/// client (`GRAPH_API_BASE_URL`, `GRAPH_API_VERSION`) and the clock.
pub struct Services {
    pub config: Arc<CoordinatorConfig>,
    pub store: Arc<dyn Store>,
    pub graph: Arc<dyn GraphApi>,
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Start-up: fails with a message naming what is missing or invalid.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = ConfigSource::from_env()?
            .load(&aws_sdk_secretsmanager::Client::new(&sdk))
            .await?;
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
        let client = DynamoStore::client(&sdk, None);
        Ok(Services {
            config: Arc::new(config),
            store: Arc::new(DynamoStore::new(client, table)),
            graph: Arc::new(GraphClient::from_env()?),
            clock: Arc::new(SystemClock),
        })
    }

    /// The timed-reset service over these clients.
    pub fn timed_reset(&self) -> crate::timed_reset::TimedReset {
        crate::timed_reset::TimedReset::new(self.control_service())
    }

    /// The re-sync service over these clients.
    pub fn resync(&self) -> crate::resync::Resync {
        crate::resync::Resync::new(self.control_service())
    }

    /// The control-handoff service over these clients.
    pub fn control_service(&self) -> ControlService {
        ControlService::new(
            self.config.clone(),
            self.store.clone(),
            self.graph.clone(),
            self.clock.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    fn in_ms(from_now: Duration) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        (now + from_now).as_millis() as u64
    }

    #[test]
    fn scheduled_runs_stop_before_their_deadline() {
        let now = Instant::now();
        // A minute left: stop 10 s before the deadline.
        let stop = work_until(in_ms(Duration::from_secs(60)));
        assert!(stop > now + Duration::from_secs(45) && stop <= now + Duration::from_secs(51));
        // 6 s left: keep a third as the margin.
        let stop = work_until(in_ms(Duration::from_secs(6)));
        assert!(stop > now + Duration::from_secs(3) && stop <= now + Duration::from_secs(5));
        // No usable deadline (past, or none sent): the default budget, less the margin.
        let stop = work_until(0);
        assert!(stop > now + Duration::from_secs(45) && stop <= now + Duration::from_secs(51));
    }
}
