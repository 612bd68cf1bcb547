//! The one adapter between the HTTP contract ([`Reply`]) and Lambda's API Gateway / function
//! URL types, and the clients every function builds at start-up (feature `lambda`).

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::config::CoordinatorConfig;
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
    request.headers().get(name).and_then(|v| v.to_str().ok())
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
        let config = CoordinatorConfig::from_env()?;
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
        let client = DynamoStore::client_from_env(None).await;
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
