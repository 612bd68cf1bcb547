//! Runs the real function binaries the way AWS does: each binary talks to a Lambda
//! Runtime API served here (`/2018-06-01/runtime/invocation/next`, `.../response`,
//! `.../error`), and an API Gateway front (HTTP API, payload 2.0) turns HTTP requests into
//! invocations. Used by the end-to-end tests, where `cargo lambda watch` cannot run (it
//! would wait for the build lock that `cargo test` holds).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::Failure;

/// One function to host: its binary and environment.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Where the workspace's debug binaries are (`CARGO_TARGET_DIR` aware).
pub fn debug_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dynamo_local::workspace_root().join("target"));
    target.join("debug").join(name)
}

/// Where a function's answer (or its error report) goes.
type ReplyTo = oneshot::Sender<Result<Value, String>>;

struct Invocation {
    id: String,
    event: Value,
    reply: ReplyTo,
}

#[derive(Clone)]
struct RuntimeApi {
    queue: Arc<Mutex<mpsc::Receiver<Invocation>>>,
    pending: Arc<Mutex<HashMap<String, ReplyTo>>>,
    name: String,
}

/// A hosted function: its runtime API and its process.
pub struct HostedFunction {
    name: String,
    sender: mpsc::Sender<Invocation>,
    _process: Child,
    _server: tokio::task::JoinHandle<()>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl HostedFunction {
    /// Serve a runtime API on a free port and start the binary against it.
    pub async fn start(spec: FunctionSpec) -> Result<Self, Failure> {
        if !spec.binary.exists() {
            return Err(format!(
                "{} is not built: run `cargo build --workspace --bins` (scripts/test does)",
                spec.binary.display()
            )
            .into());
        }
        let (sender, receiver) = mpsc::channel(64);
        let api = RuntimeApi {
            queue: Arc::new(Mutex::new(receiver)),
            pending: Arc::new(Mutex::new(HashMap::new())),
            name: spec.name.clone(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let mut command = Command::new(&spec.binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        let process = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.binary.display()))?;
        Ok(HostedFunction {
            name: spec.name,
            sender,
            _process: process,
            _server: server,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Invoke with an event and wait for the function's answer.
    pub async fn invoke(&self, event: Value) -> Result<Value, Failure> {
        let (reply, answer) = oneshot::channel();
        let id = format!("local-{}", NEXT_ID.fetch_add(1, Ordering::SeqCst));
        self.sender
            .send(Invocation { id, event, reply })
            .await
            .map_err(|_| format!("{} is not running", self.name))?;
        match tokio::time::timeout(Duration::from_secs(60), answer).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(format!("{} failed: {error}", self.name).into()),
            Ok(Err(_)) => Err(format!("{} dropped the invocation", self.name).into()),
            Err(_) => Err(format!("{} did not answer within 60 s", self.name).into()),
        }
    }
}

async fn next_invocation(State(api): State<RuntimeApi>) -> Response {
    let next = api.queue.lock().await.recv().await;
    let Some(invocation) = next else {
        return StatusCode::GONE.into_response();
    };
    api.pending
        .lock()
        .await
        .insert(invocation.id.clone(), invocation.reply);
    let deadline = chrono_like_now_ms() + 60_000;
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("lambda-runtime-aws-request-id", invocation.id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:000000000000:function:{}",
            api.name
        ),
    );
    put(
        "lambda-runtime-trace-id",
        format!("Root=1-local-{}", invocation.id),
    );
    (headers, invocation.event.to_string()).into_response()
}

fn chrono_like_now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

async fn invocation_response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(reply) = api.pending.lock().await.remove(&id) {
        let _ = reply.send(Ok(value));
    }
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    if let Some(reply) = api.pending.lock().await.remove(&id) {
        let _ = reply.send(Err(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    eprintln!(
        "lambda-host: {} failed to initialise: {}",
        api.name,
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}

/// A route: requests whose path (after any prefix) starts with `segment` go to `function`.
#[derive(Clone, Debug)]
pub struct Route {
    pub segment: String,
    pub function: String,
}

/// An API Gateway (HTTP API, payload 2.0) in front of hosted functions.
pub struct ApiGateway {
    base_url: String,
    /// HTTP requests forwarded to a function so far (the Invoke API's calls aside).
    requests: Arc<std::sync::atomic::AtomicU64>,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Gateway {
    functions: Arc<HashMap<String, Arc<HostedFunction>>>,
    routes: Arc<Vec<Route>>,
    requests: Arc<std::sync::atomic::AtomicU64>,
}

impl ApiGateway {
    pub async fn start(
        functions: Vec<HostedFunction>,
        routes: Vec<Route>,
    ) -> Result<Self, Failure> {
        let gateway = Gateway {
            functions: Arc::new(
                functions
                    .into_iter()
                    .map(|f| (f.name().to_string(), Arc::new(f)))
                    .collect(),
            ),
            routes: Arc::new(routes),
            requests: Arc::default(),
        };
        let requests = gateway.requests.clone();
        let router = Router::new().fallback(proxy).with_state(gateway);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(ApiGateway {
            base_url: format!("http://{addr}"),
            requests,
            _server: server,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// How many HTTP requests the gateway has forwarded to the functions so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Lambda's Invoke API path (`cargo lambda watch` serves the same).
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";

async fn proxy(State(gateway): State<Gateway>, request: Request) -> Response {
    if let Some(rest) = request.uri().path().strip_prefix(INVOKE_PREFIX) {
        let name = rest.trim_end_matches("/invocations").to_string();
        return match invoke_directly(&gateway, &name, request).await {
            Ok(value) => (StatusCode::OK, value.to_string()).into_response(),
            Err(err) => (
                StatusCode::OK,
                [("x-amz-function-error", "Unhandled")],
                json!({"errorMessage": err.to_string()}).to_string(),
            )
                .into_response(),
        };
    }
    match forward(&gateway, request).await {
        Ok(response) => response,
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            json!({"message": format!("Internal Server Error: {err}")}).to_string(),
        )
            .into_response(),
    }
}

/// `POST /2015-03-31/functions/{name}/invocations` with the event as the body: the
/// function's answer (scheduled and stream triggers).
async fn invoke_directly(
    gateway: &Gateway,
    name: &str,
    request: Request,
) -> Result<Value, Failure> {
    let function = gateway
        .functions
        .get(name)
        .ok_or_else(|| format!("no function {name}"))?;
    let body = axum::body::to_bytes(request.into_body(), 6 * 1024 * 1024).await?;
    let event: Value = serde_json::from_slice(&body)?;
    function.invoke(event).await
}

async fn forward(gateway: &Gateway, request: Request) -> Result<Response, Failure> {
    gateway
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let route = gateway
        .routes
        .iter()
        .find(|r| path.split('/').any(|s| s == r.segment))
        .ok_or_else(|| format!("no route for {path}"))?;
    let function = gateway
        .functions
        .get(&route.function)
        .ok_or_else(|| format!("no function {}", route.function))?;
    let body = axum::body::to_bytes(body, 6 * 1024 * 1024).await?;
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        headers.insert(
            name.as_str().to_ascii_lowercase(),
            json!(value.to_str().unwrap_or_default()),
        );
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": parts.method.as_str(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": "local", "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if !raw_query.is_empty() {
        let params: serde_json::Map<String, Value> = form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        // API Gateway passes text bodies as they are and binary ones base64-encoded; always
        // base64 here exercises the decoding path on every request.
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
        event["isBase64Encoded"] = json!(true);
    }
    let answer = function.invoke(event).await?;
    let status = answer["statusCode"].as_u64().unwrap_or(200) as u16;
    let raw_body = answer["body"].as_str().unwrap_or_default();
    let bytes = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD.decode(raw_body)?
    } else {
        raw_body.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::from_u16(status)?;
    if let Some(map) = answer["headers"].as_object() {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    Ok(response)
}
