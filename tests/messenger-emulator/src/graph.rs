//! The Graph API endpoints: thread control, `thread_owner` and the Send API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::config::{AppConfig, PageConfig};
use crate::faults::GraphErrorFault;
use crate::state::{
    is_connected, page_event, Outgoing, Owner, SentMessage, Shared, Thread, World, DAY_MS, WEEK_MS,
};

/// A Graph API error answer: `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Graph error {code}/{subcode:?}: {message}")]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: i64,
    /// `error.error_subcode` (omitted when `None`).
    pub subcode: Option<i64>,
    /// `error.message`.
    pub message: String,
    /// `error.type`.
    pub kind: String,
}

impl GraphError {
    fn new(code: i64, subcode: Option<i64>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            subcode,
            message: message.into(),
            kind: "OAuthException".to_owned(),
        }
    }

    /// 190: missing, unknown or malformed access token (HTTP 400).
    pub fn invalid_token() -> Self {
        Self::new(
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// 100: a missing or invalid parameter.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(100, None, format!("(#100) {}", message.into()))
    }

    /// 100/33: the node in the path is not the token's Page.
    fn wrong_node(node: &str) -> Self {
        Self::new(
            100,
            Some(33),
            format!(
                "Unsupported request. Object with ID '{node}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation"
            ),
        )
    }

    /// 100/2018171: the app has no role in the Page's conversation routing.
    fn no_role() -> Self {
        Self::new(
            100,
            Some(2_018_171),
            "(#100) This action is only available to apps with a role in the Page's \
             conversation routing (primary and secondary receivers)",
        )
    }

    /// 100/2018164: the target app is not connected to the Page.
    fn bad_app_id() -> Self {
        Self::new(100, Some(2_018_164), "(#100) Incorrect App ID")
    }

    /// 100/2534037: the app is not the thread owner.
    fn not_owner() -> Self {
        Self::new(
            100,
            Some(2_534_037),
            "(#100) The action is invalid: the app is not the thread owner",
        )
    }

    /// 100/2534037: the app lacks the "Take control of conversations" permission.
    fn no_take_permission() -> Self {
        Self::new(
            100,
            Some(2_534_037),
            "(#100) The action is invalid: the app does not have the permission to take \
             control of conversations",
        )
    }

    /// 10/2018300: another app controls the thread (Send API).
    fn send_not_owner() -> Self {
        Self::new(
            10,
            Some(2_018_300),
            "Message failed to send because another app is controlling this thread now",
        )
    }

    /// 10/2018278: outside the allowed messaging window.
    fn outside_window() -> Self {
        Self::new(
            10,
            Some(2_018_278),
            "(#10) This message is sent outside of allowed window.",
        )
    }

    /// 100/2018001: the PSID never wrote to this Page.
    fn no_user() -> Self {
        Self::new(100, Some(2_018_001), "(#100) No matching user found")
    }

    /// The error configured by a fault.
    pub(crate) fn injected(fault: &GraphErrorFault) -> Self {
        Self {
            status: StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_REQUEST),
            code: fault.code,
            subcode: fault.error_subcode,
            message: fault.message.clone(),
            kind: fault.kind.clone(),
        }
    }

    fn body(&self) -> Value {
        static TRACE: AtomicU64 = AtomicU64::new(1);
        let trace = TRACE.fetch_add(1, Ordering::Relaxed);
        let mut error = Map::new();
        error.insert("message".into(), json!(self.message));
        error.insert("type".into(), json!(self.kind));
        error.insert("code".into(), json!(self.code));
        if let Some(subcode) = self.subcode {
            error.insert("error_subcode".into(), json!(subcode));
        }
        error.insert("fbtrace_id".into(), json!(format!("AEmu{trace:08X}")));
        json!({ "error": error })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = self.body();
        if self.code == 190 {
            let challenge = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.message
            );
            return (
                self.status,
                [(header::WWW_AUTHENTICATE, challenge)],
                Json(body),
            )
                .into_response();
        }
        (self.status, Json(body)).into_response()
    }
}

/// The Graph endpoints the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Pass,
    Take,
    Request,
    Release,
    Extend,
    ThreadOwner,
    Messages,
}

impl Endpoint {
    fn parse(method: &Method, edge: &str) -> Option<Self> {
        match (method.as_str(), edge) {
            ("POST", "pass_thread_control") => Some(Self::Pass),
            ("POST", "take_thread_control") => Some(Self::Take),
            ("POST", "request_thread_control") => Some(Self::Request),
            ("POST", "release_thread_control") => Some(Self::Release),
            ("POST", "extend_thread_control") => Some(Self::Extend),
            ("GET", "thread_owner") => Some(Self::ThreadOwner),
            ("POST", "messages") => Some(Self::Messages),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass_thread_control",
            Self::Take => "take_thread_control",
            Self::Request => "request_thread_control",
            Self::Release => "release_thread_control",
            Self::Extend => "extend_thread_control",
            Self::ThreadOwner => "thread_owner",
            Self::Messages => "messages",
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` text (also used for query strings).
pub(crate) fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len()
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit() =>
                {
                    let high = (bytes[i + 1] as char).to_digit(16).unwrap_or(0);
                    let low = (bytes[i + 2] as char).to_digit(16).unwrap_or(0);
                    out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                    i += 2;
                }
                other => out.push(other),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Merges query-string and body parameters (body wins).
fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, GraphError> {
    let mut params = Map::new();
    if let Some(query) = query {
        for (key, value) in parse_urlencoded(query) {
            params.insert(key, Value::String(value));
        }
    }
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") || trimmed.starts_with(b"{") {
        let value: Value = serde_json::from_slice(trimmed)
            .map_err(|_| GraphError::param("Invalid JSON in the request body"))?;
        let Value::Object(object) = value else {
            return Err(GraphError::param("The request body must be a JSON object"));
        };
        params.extend(object);
    } else if content_type.is_empty()
        || content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("text/plain")
    {
        let text = std::str::from_utf8(trimmed)
            .map_err(|_| GraphError::param("The request body is not UTF-8"))?;
        for (key, value) in parse_urlencoded(text) {
            params.insert(key, Value::String(value));
        }
    } else {
        return Err(GraphError::param(format!(
            "Unsupported content type {content_type}"
        )));
    }
    Ok(params)
}

/// An id given as a string or a number.
fn id_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An object parameter given as JSON or as a JSON string (form/query).
fn object_param(
    params: &Map<String, Value>,
    name: &str,
) -> Result<Option<Map<String, Value>>, GraphError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object.clone())),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(Some(object)),
            _ => Err(GraphError::param(format!(
                "param {name} must be a JSON object"
            ))),
        },
        Some(_) => Err(GraphError::param(format!(
            "param {name} must be a JSON object"
        ))),
    }
}

/// `recipient` as `{"id":"PSID"}`, a JSON string of that, or (thread_owner) a bare PSID.
fn recipient_psid(params: &Map<String, Value>) -> Result<String, GraphError> {
    let missing = || GraphError::param("param recipient must be non-empty.");
    match params.get("recipient") {
        None | Some(Value::Null) => Err(missing()),
        Some(Value::Object(object)) => id_string(object.get("id")).ok_or_else(missing),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(text)) => {
            let text = text.trim();
            if text.starts_with('{') {
                match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(object)) => id_string(object.get("id")).ok_or_else(missing),
                    _ => Err(GraphError::param("param recipient must be a JSON object")),
                }
            } else if text.is_empty() {
                Err(missing())
            } else {
                Ok(text.to_owned())
            }
        }
        Some(_) => Err(missing()),
    }
}

fn string_param(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_owned())
}

/// Axum handler for `/{version}/{node}/{edge}`.
pub(crate) async fn graph_handler(
    State(shared): State<Arc<Shared>>,
    Path((version, node, edge)): Path<(String, String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        version: &version,
        node: &node,
        edge: &edge,
        method: &method,
        query: query.as_deref(),
        headers: &headers,
        body: &body,
    };
    match handle(&shared, call).await {
        Ok(value) => Json(value).into_response(),
        Err(err) => err.into_response(),
    }
}

struct Call<'a> {
    version: &'a str,
    node: &'a str,
    edge: &'a str,
    method: &'a Method,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

async fn handle(shared: &Shared, call: Call<'_>) -> Result<Value, GraphError> {
    if call.version != shared.config.graph_version {
        return Err(GraphError::new(
            2500,
            None,
            format!(
                "Unknown path components: /{}/{}/{} (this emulator serves {})",
                call.version, call.node, call.edge, shared.config.graph_version
            ),
        ));
    }
    let Some(endpoint) = Endpoint::parse(call.method, call.edge) else {
        return Err(GraphError::param(format!(
            "Unsupported {} request to edge '{}'",
            call.method.as_str().to_ascii_lowercase(),
            call.edge
        )));
    };
    let faults = shared.with_world(|world, _| world.faults.take_graph(endpoint.name()));
    if let Some(latency) = faults.latency_before {
        tokio::time::sleep(latency).await;
    }
    if let Some(err) = faults.error_before {
        tracing::info!(
            endpoint = endpoint.name(),
            code = err.code,
            "injected Graph error"
        );
        return Err(err);
    }
    let result = apply(shared, endpoint, &call);
    if let Some(latency) = faults.latency_after {
        tracing::info!(endpoint = endpoint.name(), "call applied; answering late");
        tokio::time::sleep(latency).await;
    }
    if let Some(err) = faults.error_after {
        tracing::info!(
            endpoint = endpoint.name(),
            code = err.code,
            applied = result.is_ok(),
            "call handled; injected Graph error answered instead"
        );
        return Err(err);
    }
    result
}

/// Authenticate the call and apply it to the world.
fn apply(shared: &Shared, endpoint: Endpoint, call: &Call<'_>) -> Result<Value, GraphError> {
    let params = parse_params(call.query, call.headers, call.body)?;
    let token = string_param(&params, "access_token")
        .filter(|t| !t.is_empty())
        .or_else(|| bearer_token(call.headers));
    let Some((page, app)) = token.as_deref().and_then(|t| shared.token(t)) else {
        tracing::info!(endpoint = endpoint.name(), "rejected: invalid access token");
        return Err(GraphError::invalid_token());
    };
    if call.node != "me" && call.node != page.id {
        return Err(GraphError::wrong_node(call.node));
    }
    if !app.connected {
        return Err(GraphError::no_role());
    }
    let result = dispatch(shared, endpoint, page, app, &params);
    match &result {
        Ok(_) => {
            tracing::info!(endpoint = endpoint.name(), page_id = %page.id, app_id = %app.id, "graph call ok")
        }
        Err(err) => tracing::info!(
            endpoint = endpoint.name(),
            page_id = %page.id,
            app_id = %app.id,
            code = err.code,
            subcode = ?err.subcode,
            "graph call refused"
        ),
    }
    result
}

fn dispatch(
    shared: &Shared,
    endpoint: Endpoint,
    page: &PageConfig,
    app: &AppConfig,
    params: &Map<String, Value>,
) -> Result<Value, GraphError> {
    let psid = recipient_psid(params)?;
    let metadata = string_param(params, "metadata");
    let now = shared.now();
    let act = Act {
        shared,
        page,
        app,
        psid: &psid,
        now,
    };
    match endpoint {
        Endpoint::Pass => {
            let target = string_param(params, "target_app_id")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| GraphError::param("param target_app_id must be non-empty."))?;
            shared.with_world(|world, out| act.pass(world, out, &target, metadata))
        }
        Endpoint::Take => shared.with_world(|world, out| act.take(world, out, metadata)),
        Endpoint::Request => shared.with_world(|world, out| act.request(world, out, metadata)),
        Endpoint::Release => shared.with_world(|world, _| act.release(world)),
        Endpoint::Extend => {
            let duration = match params.get("duration") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                GraphError::param("param duration must be an integer number of seconds")
            })?;
            if duration <= 0 || duration > WEEK_MS / 1000 {
                return Err(GraphError::param(
                    "param duration must be between 1 and 604800 seconds (7 days)",
                ));
            }
            shared.with_world(|world, _| act.extend(world, duration))
        }
        Endpoint::ThreadOwner => shared.with_world(|world, _| act.thread_owner(world)),
        Endpoint::Messages => {
            let send = SendRequest::parse(params, page)?;
            shared.with_world(|world, out| act.send(world, out, send))
        }
    }
}

/// A parsed Send API call.
struct SendRequest {
    messaging_type: String,
    tag: Option<String>,
    text: String,
    metadata: Option<String>,
    thread_control: Option<ThreadControl>,
    thread_control_raw: Option<Value>,
}

enum ThreadControl {
    Pass(String),
    Release,
}

impl SendRequest {
    fn parse(params: &Map<String, Value>, page: &PageConfig) -> Result<Self, GraphError> {
        let messaging_type = string_param(params, "messaging_type")
            .ok_or_else(|| GraphError::param("param messaging_type is required"))?;
        if !matches!(
            messaging_type.as_str(),
            "RESPONSE" | "UPDATE" | "MESSAGE_TAG"
        ) {
            return Err(GraphError::param(
                "param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG",
            ));
        }
        let tag = string_param(params, "tag").filter(|t| !t.is_empty());
        if messaging_type == "MESSAGE_TAG" {
            match tag.as_deref() {
                Some("HUMAN_AGENT") => {}
                Some(other) => {
                    return Err(GraphError::param(format!(
                        "param tag {other} is not supported (only HUMAN_AGENT)"
                    )))
                }
                None => {
                    return Err(GraphError::param(
                        "param tag is required when messaging_type is MESSAGE_TAG",
                    ))
                }
            }
        }
        let message = object_param(params, "message")?
            .ok_or_else(|| GraphError::param("param message must be non-empty."))?;
        let text = match message.get("text") {
            Some(Value::String(text)) if !text.is_empty() => text.clone(),
            _ => {
                return Err(GraphError::param(
                    "param message[text] must be a non-empty string (only text is emulated)",
                ))
            }
        };
        if text.chars().count() > 2000 {
            return Err(GraphError::param(
                "param message[text] must be UTF-8 encoded with 2000 or fewer characters",
            ));
        }
        let metadata = match message.get("metadata") {
            Some(Value::String(m)) => Some(m.clone()),
            _ => None,
        };
        let raw = object_param(params, "thread_control")?;
        let thread_control = match &raw {
            None => None,
            Some(object) => match object.get("control_type").and_then(Value::as_str) {
                Some("pass") => {
                    let target = id_string(object.get("app_id")).ok_or_else(|| {
                        GraphError::param("param thread_control[app_id] is required for pass")
                    })?;
                    if !is_connected(page, &target) {
                        return Err(GraphError::bad_app_id());
                    }
                    Some(ThreadControl::Pass(target))
                }
                Some("release") => Some(ThreadControl::Release),
                _ => {
                    return Err(GraphError::param(
                        "param thread_control[control_type] must be pass or release",
                    ))
                }
            },
        };
        Ok(Self {
            messaging_type,
            tag,
            text,
            metadata,
            thread_control,
            thread_control_raw: raw.map(Value::Object),
        })
    }
}

/// One Graph action by an app on a thread.
struct Act<'a> {
    shared: &'a Shared,
    page: &'a PageConfig,
    app: &'a AppConfig,
    psid: &'a str,
    now: i64,
}

impl Act<'_> {
    fn success() -> Value {
        json!({"success": true})
    }

    /// Whether the app may act on a thread whose owner is `current`: it is the owner, or
    /// the thread is idle and it is the Page's default app.
    fn controls(&self, current: Option<&str>) -> bool {
        match current {
            Some(owner) => owner == self.app.id,
            None => self.app.id == self.page.default_app_id,
        }
    }

    /// Sends a handover event about this thread (see [`Shared::handover`]).
    fn handover(
        &self,
        out: &mut Vec<Outgoing>,
        app_id: &str,
        kind: &'static str,
        fields: &[(&str, Option<&str>)],
        metadata: Option<String>,
    ) {
        self.shared.handover(
            out, self.page, self.psid, self.now, app_id, kind, fields, metadata,
        );
    }

    /// Gives `thread` to `target` for 24 hours and sends it `pass_thread_control`.
    fn pass_to(
        &self,
        thread: &mut Thread,
        out: &mut Vec<Outgoing>,
        previous: Option<&str>,
        target: &str,
        metadata: Option<String>,
    ) {
        thread.owner = Some(Owner {
            app_id: target.to_owned(),
            expires_at_ms: self.now + DAY_MS,
        });
        self.handover(
            out,
            target,
            "pass_thread_control",
            &[
                ("previous_owner_app_id", previous),
                ("new_owner_app_id", Some(target)),
            ],
            metadata,
        );
    }

    fn pass(
        &self,
        world: &mut World,
        out: &mut Vec<Outgoing>,
        target: &str,
        metadata: Option<String>,
    ) -> Result<Value, GraphError> {
        if !is_connected(self.page, target) {
            return Err(GraphError::bad_app_id());
        }
        let thread = world.thread_mut(&self.page.id, self.psid);
        let current = thread.owner_id_at(self.now);
        if !self.controls(current.as_deref()) {
            return Err(GraphError::not_owner());
        }
        self.pass_to(thread, out, current.as_deref(), target, metadata);
        Ok(Self::success())
    }

    fn take(
        &self,
        world: &mut World,
        out: &mut Vec<Outgoing>,
        metadata: Option<String>,
    ) -> Result<Value, GraphError> {
        if !self.app.take_control {
            return Err(GraphError::no_take_permission());
        }
        let thread = world.thread_mut(&self.page.id, self.psid);
        let current = thread.owner_id_at(self.now);
        thread.owner = Some(Owner {
            app_id: self.app.id.clone(),
            expires_at_ms: self.now + DAY_MS,
        });
        if let Some(previous) = current.filter(|p| *p != self.app.id) {
            self.handover(
                out,
                &previous,
                "take_thread_control",
                &[
                    ("previous_owner_app_id", Some(&previous)),
                    ("new_owner_app_id", Some(&self.app.id)),
                ],
                metadata,
            );
        }
        Ok(Self::success())
    }

    fn request(
        &self,
        world: &mut World,
        out: &mut Vec<Outgoing>,
        metadata: Option<String>,
    ) -> Result<Value, GraphError> {
        let current = world
            .thread(&self.page.id, self.psid)
            .and_then(|t| t.owner_id_at(self.now));
        if let Some(owner) = current.filter(|o| *o != self.app.id) {
            self.handover(
                out,
                &owner,
                "request_thread_control",
                &[("requested_owner_app_id", Some(&self.app.id))],
                metadata,
            );
        }
        Ok(Self::success())
    }

    fn release(&self, world: &mut World) -> Result<Value, GraphError> {
        let thread = world.thread_mut(&self.page.id, self.psid);
        if !self.controls(thread.owner_id_at(self.now).as_deref()) {
            return Err(GraphError::not_owner());
        }
        thread.owner = None;
        Ok(Self::success())
    }

    fn extend(&self, world: &mut World, duration_secs: i64) -> Result<Value, GraphError> {
        let thread = world.thread_mut(&self.page.id, self.psid);
        match thread.owner_id_at(self.now) {
            Some(owner) if owner == self.app.id => {
                thread.owner = Some(Owner {
                    app_id: owner,
                    expires_at_ms: self.now + duration_secs * 1000,
                });
                Ok(Self::success())
            }
            _ => Err(GraphError::not_owner()),
        }
    }

    fn thread_owner(&self, world: &mut World) -> Result<Value, GraphError> {
        let owner = world
            .thread(&self.page.id, self.psid)
            .and_then(|t| t.owner_at(self.now))
            .cloned();
        match owner {
            None => Ok(json!({"data": []})),
            Some(owner)
                if owner.app_id == self.app.id || self.app.id == self.page.default_app_id =>
            {
                Ok(json!({"data": [{"thread_owner": {
                    "app_id": owner.app_id,
                    "expiration": owner.expires_at_ms.div_euclid(1000),
                }}]}))
            }
            // Conversation routing: any other app learns only that the thread is owned,
            // and until when.
            Some(owner) => Ok(json!({"data": [{"thread_owner": {
                "expiration": owner.expires_at_ms.div_euclid(1000),
            }}]})),
        }
    }

    fn send(
        &self,
        world: &mut World,
        out: &mut Vec<Outgoing>,
        send: SendRequest,
    ) -> Result<Value, GraphError> {
        let thread = world.thread_mut(&self.page.id, self.psid);
        let Some(last_customer) = thread.last_customer_ms else {
            return Err(GraphError::no_user());
        };
        let current = thread.owner_id_at(self.now);
        if !self.controls(current.as_deref()) {
            return Err(GraphError::send_not_owner());
        }
        let window = if send.messaging_type == "MESSAGE_TAG" {
            WEEK_MS
        } else {
            DAY_MS
        };
        if self.now - last_customer > window {
            return Err(GraphError::outside_window());
        }
        if current.is_none() {
            thread.owner = Some(Owner {
                app_id: self.app.id.clone(),
                expires_at_ms: self.now + DAY_MS,
            });
        }
        let mid = world.next_mid(self.now);
        world.sent.push(SentMessage {
            message_id: mid.clone(),
            page_id: self.page.id.clone(),
            psid: self.psid.to_owned(),
            app_id: self.app.id.clone(),
            messaging_type: Some(send.messaging_type.clone()),
            tag: send.tag.clone(),
            text: send.text.clone(),
            metadata: send.metadata.clone(),
            thread_control: send.thread_control_raw.clone(),
            owner_at_send: current.clone(),
            timestamp: self.now,
        });
        let mut echo = Map::new();
        echo.insert("is_echo".into(), json!(true));
        echo.insert("app_id".into(), self.shared.app_value(&self.app.id));
        if let Some(metadata) = &send.metadata {
            echo.insert("metadata".into(), json!(metadata));
        }
        echo.insert("mid".into(), json!(mid));
        echo.insert("text".into(), json!(send.text));
        let event = page_event(
            &self.page.id,
            self.psid,
            self.now,
            "message",
            Value::Object(echo),
        );
        self.shared.fan_out(
            out,
            self.page,
            self.psid,
            Some(&self.app.id),
            "echo",
            &event,
            &event,
        );
        let thread = world.thread_mut(&self.page.id, self.psid);
        match send.thread_control {
            Some(ThreadControl::Pass(target)) => {
                self.pass_to(thread, out, Some(&self.app.id), &target, None);
            }
            Some(ThreadControl::Release) => thread.owner = None,
            None => {}
        }
        Ok(json!({"recipient_id": self.psid, "message_id": mid}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_bodies() {
        let pairs =
            parse_urlencoded("recipient=%7B%22id%22%3A%22P%C3%A4%22%7D&a=b+c&flag&bad=%zz&end=%4");
        assert_eq!(
            pairs[0],
            ("recipient".to_owned(), "{\"id\":\"Pä\"}".to_owned())
        );
        assert_eq!(pairs[1], ("a".to_owned(), "b c".to_owned()));
        assert_eq!(pairs[2], ("flag".to_owned(), String::new()));
        assert_eq!(pairs[3], ("bad".to_owned(), "%zz".to_owned()));
        assert_eq!(pairs[4], ("end".to_owned(), "%4".to_owned()));
    }

    #[test]
    fn reads_recipient_in_every_form() {
        let mut params = Map::new();
        params.insert("recipient".into(), json!({"id": "123"}));
        assert_eq!(recipient_psid(&params).ok(), Some("123".to_owned()));
        params.insert("recipient".into(), json!("{\"id\":456}"));
        assert_eq!(recipient_psid(&params).ok(), Some("456".to_owned()));
        params.insert("recipient".into(), json!("789"));
        assert_eq!(recipient_psid(&params).ok(), Some("789".to_owned()));
        params.insert("recipient".into(), json!({"user_ref": "x"}));
        assert!(recipient_psid(&params).is_err());
    }
}
