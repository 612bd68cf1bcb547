//! The control API under `/_emulator/`: play the customer and Meta's inbox, move the clock,
//! inspect state and deliveries, settle the delivery queues, inject faults.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::PageConfig;
use crate::faults::{default_message, GraphErrorFault, LatencyFault, ReverseHold, GRAPH_ENDPOINTS};
use crate::graph::parse_urlencoded;
use crate::state::{
    is_connected, page_event, thread_view, user_event, Owner, SentMessage, Shared, World, DAY_MS,
    WEEK_MS,
};
use crate::PAGE_INBOX_APP_ID;

/// A control API error: `{"error":{"code":"snake_case","message":".."}}`.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ControlError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ControlError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code,
            message: message.into(),
        }
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

type Reply = Result<Json<Value>, ControlError>;
type AppState = State<Arc<Shared>>;

/// Parses a JSON request body; an empty body counts as `{}`.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ControlError> {
    let bytes = if bytes.trim_ascii().is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|err| ControlError::bad_request(format!("invalid JSON body: {err}")))
}

pub(crate) fn query_map(query: Option<&str>) -> HashMap<String, String> {
    query
        .map(parse_urlencoded)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

pub(crate) fn resolve_page<'a>(
    shared: &'a Shared,
    page_id: Option<&str>,
) -> Result<&'a PageConfig, ControlError> {
    match page_id {
        Some(id) => shared
            .page(id)
            .ok_or_else(|| ControlError::not_found("unknown_page", format!("no page {id}"))),
        None if shared.config.pages.len() == 1 => shared
            .config
            .pages
            .first()
            .ok_or_else(|| ControlError::bad_request("page_id is required")),
        None => Err(ControlError::bad_request(
            "page_id is required when several pages are configured",
        )),
    }
}

pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), ControlError> {
    if value.trim().is_empty() {
        Err(ControlError::bad_request(format!(
            "{field} must not be empty"
        )))
    } else {
        Ok(())
    }
}

/// The control API routes.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/customer/message", post(customer_message))
        .route("/_emulator/customer/postback", post(customer_postback))
        .route("/_emulator/customer/read", post(customer_read))
        .route("/_emulator/inbox/reply", post(inbox_reply))
        .route("/_emulator/inbox/request", post(inbox_request))
        .route("/_emulator/inbox/release", post(inbox_release))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(clock_advance))
        .route("/_emulator/threads", get(threads))
        .route(
            "/_emulator/threads/{page_id}/{psid}",
            get(thread).put(set_thread),
        )
        .route("/_emulator/messages", get(messages))
        .route("/_emulator/webhooks", get(webhooks))
        .route("/_emulator/webhooks/verify", post(verify_webhook))
        .route("/_emulator/settle", post(settle))
        .route("/_emulator/reset", post(reset_all))
        .route("/_emulator/faults", get(faults).delete(reset_faults))
        .route("/_emulator/faults/reset", post(reset_faults))
        .route("/_emulator/faults/graph-error", post(fault_graph_error))
        .route("/_emulator/faults/latency", post(fault_latency))
        .route("/_emulator/faults/duplicate", post(fault_duplicate))
        .route("/_emulator/faults/reverse", post(fault_reverse))
        .route(
            "/_emulator/faults/drop-first-attempt",
            post(fault_drop_first),
        )
        .route(
            "/_emulator/faults/drop-every-attempt",
            post(fault_drop_every),
        )
}

async fn health(State(shared): AppState) -> Json<Value> {
    let pages: Vec<Value> = shared
        .config
        .pages
        .iter()
        .map(|page| {
            let apps: Vec<Value> = page
                .apps
                .iter()
                .map(|app| {
                    json!({
                        "id": app.id,
                        "name": app.name,
                        "connected": app.connected,
                        "subscribed": app.subscribed(),
                        "take_control": app.take_control,
                        "standby": app.standby,
                    })
                })
                .collect();
            json!({"id": page.id, "default_app_id": page.default_app_id, "apps": apps,
                   "buttons": page.buttons})
        })
        .collect();
    Json(json!({
        "status": "ok",
        "graph_version": shared.config.graph_version,
        "page_inbox_app_id": PAGE_INBOX_APP_ID,
        "now_ms": shared.now(),
        "pages": pages,
    }))
}

// ---------------------------------------------------------------------------------------
// The customer

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerMessage {
    page_id: Option<String>,
    psid: String,
    text: String,
    quick_reply_payload: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerPostback {
    page_id: Option<String>,
    psid: String,
    title: String,
    payload: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerRead {
    page_id: Option<String>,
    psid: String,
    watermark: Option<i64>,
}

/// Applies the idle rule and renews the window for a customer message or postback;
/// returns the owner afterwards.
fn customer_activity(world: &mut World, page: &PageConfig, psid: &str, now: i64) -> String {
    let thread = world.thread_mut(&page.id, psid);
    let owner = match thread.owner_at(now) {
        Some(owner) => Owner {
            app_id: owner.app_id.clone(),
            expires_at_ms: owner.expires_at_ms.max(now + DAY_MS),
        },
        None => Owner {
            app_id: page.default_app_id.clone(),
            expires_at_ms: now + DAY_MS,
        },
    };
    let owner_id = owner.app_id.clone();
    thread.owner = Some(owner);
    thread.last_customer_ms = Some(now);
    owner_id
}

/// A customer message or postback (see [`customer_activity`]): sends the `kind` event,
/// `bodies(mid)` = (body for the owner, body for the standby apps); returns the answer.
fn customer_event(
    shared: &Shared,
    page: &PageConfig,
    psid: &str,
    kind: &'static str,
    bodies: impl FnOnce(&str) -> (Value, Value),
) -> Value {
    shared.with_world(|world, out| {
        let now = shared.now();
        let owner = customer_activity(world, page, psid, now);
        let mid = world.next_mid(now);
        let (messaging, standby) = bodies(&mid);
        let messaging = user_event(&page.id, psid, now, kind, messaging);
        let standby = user_event(&page.id, psid, now, kind, standby);
        shared.fan_out(out, page, psid, Some(&owner), kind, &messaging, &standby);
        json!({"mid": mid, "timestamp": now, "owner_app_id": owner})
    })
}

async fn customer_message(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: CustomerMessage = body(&bytes)?;
    non_empty("psid", &request.psid)?;
    non_empty("text", &request.text)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let reply = customer_event(&shared, page, &request.psid, "message", |mid| {
        let mut message = Map::new();
        message.insert("mid".into(), json!(mid));
        message.insert("text".into(), json!(request.text));
        if let Some(payload) = &request.quick_reply_payload {
            message.insert("quick_reply".into(), json!({"payload": payload}));
        }
        let message = Value::Object(message);
        (message.clone(), message)
    });
    tracing::info!(page_id = %page.id, "customer message");
    Ok(Json(reply))
}

async fn customer_postback(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: CustomerPostback = body(&bytes)?;
    non_empty("psid", &request.psid)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let reply = customer_event(&shared, page, &request.psid, "postback", |mid| {
        (
            json!({"title": request.title, "payload": request.payload, "mid": mid}),
            json!({"title": request.title}),
        )
    });
    tracing::info!(page_id = %page.id, "customer postback");
    Ok(Json(reply))
}

async fn customer_read(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: CustomerRead = body(&bytes)?;
    non_empty("psid", &request.psid)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let reply = shared.with_world(|world, out| {
        let now = shared.now();
        let owner = world
            .thread(&page.id, &request.psid)
            .and_then(|t| t.owner_id_at(now));
        let receiver = owner.clone().unwrap_or_else(|| page.default_app_id.clone());
        let watermark = request.watermark.unwrap_or(now);
        let event = user_event(
            &page.id,
            &request.psid,
            now,
            "read",
            json!({"watermark": watermark}),
        );
        shared.fan_out(
            out,
            page,
            &request.psid,
            Some(&receiver),
            "read",
            &event,
            &event,
        );
        json!({"watermark": watermark, "timestamp": now, "owner_app_id": owner})
    });
    Ok(Json(reply))
}

// ---------------------------------------------------------------------------------------
// A human in Meta's Page Inbox

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxReply {
    page_id: Option<String>,
    psid: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxThread {
    page_id: Option<String>,
    psid: String,
    metadata: Option<String>,
}

async fn inbox_reply(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: InboxReply = body(&bytes)?;
    non_empty("psid", &request.psid)?;
    non_empty("text", &request.text)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let reply = shared.with_world(|world, out| {
        let now = shared.now();
        let thread = world.thread_mut(&page.id, &request.psid);
        let Some(last_customer) = thread.last_customer_ms else {
            return Err(ControlError::conflict(
                "no_conversation",
                "this customer never wrote to the page",
            ));
        };
        if now - last_customer > WEEK_MS {
            return Err(ControlError::conflict(
                "window_closed",
                "more than 7 days since the customer's last message",
            ));
        }
        let previous = thread.owner_id_at(now);
        let expires_at_ms = match thread.owner_at(now) {
            Some(owner) if owner.app_id == PAGE_INBOX_APP_ID => owner.expires_at_ms,
            _ => now + DAY_MS,
        };
        thread.owner = Some(Owner {
            app_id: PAGE_INBOX_APP_ID.to_owned(),
            expires_at_ms,
        });
        if let Some(previous) = previous.as_deref().filter(|p| *p != PAGE_INBOX_APP_ID) {
            shared.handover(
                out,
                page,
                &request.psid,
                now,
                previous,
                "take_thread_control",
                &[
                    ("previous_owner_app_id", Some(previous)),
                    ("new_owner_app_id", Some(PAGE_INBOX_APP_ID)),
                ],
                None,
            );
        }
        let mid = world.next_mid(now);
        world.sent.push(SentMessage {
            message_id: mid.clone(),
            page_id: page.id.clone(),
            psid: request.psid.clone(),
            app_id: PAGE_INBOX_APP_ID.to_owned(),
            messaging_type: None,
            tag: None,
            text: request.text.clone(),
            metadata: None,
            thread_control: None,
            owner_at_send: Some(PAGE_INBOX_APP_ID.to_owned()),
            timestamp: now,
        });
        let event = page_event(
            &page.id,
            &request.psid,
            now,
            "message",
            json!({
                "is_echo": true,
                "app_id": shared.app_value(PAGE_INBOX_APP_ID),
                "mid": mid,
                "text": request.text,
            }),
        );
        shared.fan_out(
            out,
            page,
            &request.psid,
            Some(PAGE_INBOX_APP_ID),
            "echo",
            &event,
            &event,
        );
        Ok(json!({
            "message_id": mid,
            "timestamp": now,
            "previous_owner_app_id": previous,
            "owner_app_id": PAGE_INBOX_APP_ID,
        }))
    })?;
    tracing::info!(page_id = %page.id, "page inbox reply");
    Ok(Json(reply))
}

async fn inbox_request(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: InboxThread = body(&bytes)?;
    non_empty("psid", &request.psid)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let reply = shared.with_world(|world, out| {
        let now = shared.now();
        let owner = world
            .thread(&page.id, &request.psid)
            .and_then(|t| t.owner_id_at(now));
        if let Some(owner) = owner.as_deref().filter(|o| *o != PAGE_INBOX_APP_ID) {
            shared.handover(
                out,
                page,
                &request.psid,
                now,
                owner,
                "request_thread_control",
                &[("requested_owner_app_id", Some(PAGE_INBOX_APP_ID))],
                request.metadata.clone(),
            );
        }
        json!({"owner_app_id": owner, "timestamp": now})
    });
    Ok(Json(reply))
}

async fn inbox_release(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: InboxThread = body(&bytes)?;
    non_empty("psid", &request.psid)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let view = shared.with_world(|world, _| {
        let now = shared.now();
        let thread = world.thread_mut(&page.id, &request.psid);
        match thread.owner_id_at(now) {
            Some(owner) if owner == PAGE_INBOX_APP_ID => {
                thread.owner = None;
                Ok(thread_view(&page.id, &request.psid, Some(thread), now))
            }
            other => Err(ControlError::conflict(
                "not_owner",
                format!(
                    "the Page Inbox does not own this thread (owner: {})",
                    other.as_deref().unwrap_or("idle")
                ),
            )),
        }
    })?;
    Ok(Json(view))
}

// ---------------------------------------------------------------------------------------
// Clock, inspection

fn clock_view(shared: &Shared) -> Value {
    json!({"now_ms": shared.now(), "offset_ms": shared.clock.offset_ms()})
}

async fn clock(State(shared): AppState) -> Json<Value> {
    Json(clock_view(&shared))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: i64,
}

async fn clock_advance(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: Advance = body(&bytes)?;
    if request.seconds < 0 {
        return Err(ControlError::bad_request("seconds must not be negative"));
    }
    shared
        .clock
        .advance_ms(request.seconds.saturating_mul(1000));
    tracing::info!(seconds = request.seconds, "clock advanced");
    Ok(Json(clock_view(&shared)))
}

async fn threads(State(shared): AppState) -> Json<Value> {
    let list = shared.with_world(|world, _| {
        let now = shared.now();
        world
            .threads
            .iter()
            .map(|((page_id, psid), thread)| thread_view(page_id, psid, Some(thread), now))
            .collect::<Vec<_>>()
    });
    Json(json!({"threads": list}))
}

async fn thread(State(shared): AppState, Path((page_id, psid)): Path<(String, String)>) -> Reply {
    resolve_page(&shared, Some(&page_id))?;
    let view = shared.with_world(|world, _| {
        thread_view(&page_id, &psid, world.thread(&page_id, &psid), shared.now())
    });
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetThread {
    #[serde(default)]
    owner_app_id: Option<String>,
    #[serde(default = "default_expiry")]
    expires_in_secs: i64,
    #[serde(default)]
    last_customer_message_secs_ago: i64,
}

fn default_expiry() -> i64 {
    DAY_MS / 1000
}

async fn set_thread(
    State(shared): AppState,
    Path((page_id, psid)): Path<(String, String)>,
    bytes: Bytes,
) -> Reply {
    let request: SetThread = body(&bytes)?;
    let page = resolve_page(&shared, Some(&page_id))?;
    if let Some(owner) = &request.owner_app_id {
        if !is_connected(page, owner) {
            return Err(ControlError::not_found(
                "unknown_app",
                format!("app {owner} is not connected to page {page_id}"),
            ));
        }
    }
    if request.expires_in_secs <= 0 || request.last_customer_message_secs_ago < 0 {
        return Err(ControlError::bad_request(
            "expires_in_secs must be positive and last_customer_message_secs_ago not negative",
        ));
    }
    let view = shared.with_world(|world, _| {
        let now = shared.now();
        let thread = world.thread_mut(&page_id, &psid);
        thread.owner = request.owner_app_id.map(|app_id| Owner {
            app_id,
            expires_at_ms: now + request.expires_in_secs.saturating_mul(1000),
        });
        thread.last_customer_ms =
            Some(now - request.last_customer_message_secs_ago.saturating_mul(1000));
        thread_view(&page_id, &psid, Some(thread), now)
    });
    Ok(Json(view))
}

async fn messages(State(shared): AppState, RawQuery(query): RawQuery) -> Json<Value> {
    let filter = query_map(query.as_deref());
    let keep = |key: &str, value: &str| filter.get(key).is_none_or(|wanted| wanted == value);
    let list: Vec<Value> = shared.with_world(|world, _| {
        world
            .sent
            .iter()
            .filter(|m| {
                keep("page_id", &m.page_id) && keep("psid", &m.psid) && keep("app_id", &m.app_id)
            })
            .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
            .collect()
    });
    Json(json!({"messages": list}))
}

async fn webhooks(State(shared): AppState, RawQuery(query): RawQuery) -> Reply {
    let filter = query_map(query.as_deref());
    let since = match filter.get("since") {
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ControlError::bad_request("since must be a sequence number"))?,
        None => 0,
    };
    let keep = |key: &str, value: &str| filter.get(key).is_none_or(|wanted| wanted == value);
    let list: Vec<Value> = shared
        .dispatcher
        .records()
        .into_iter()
        .filter(|r| {
            r.seq > since
                && keep("app_id", &r.app_id)
                && keep("page_id", &r.page_id)
                && keep("psid", &r.psid)
                && keep("kind", r.kind)
                && keep("channel", r.channel)
                && keep("outcome", r.outcome)
        })
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({"deliveries": list})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verify {
    page_id: Option<String>,
    app_id: String,
    verify_token: Option<String>,
}

async fn verify_webhook(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: Verify = body(&bytes)?;
    let page = resolve_page(&shared, request.page_id.as_deref())?;
    let app = page
        .apps
        .iter()
        .find(|app| app.id == request.app_id)
        .ok_or_else(|| {
            ControlError::not_found("unknown_app", format!("no app {}", request.app_id))
        })?;
    let url = app
        .webhook_url
        .clone()
        .ok_or_else(|| ControlError::conflict("no_webhook", "this app has no webhook_url"))?;
    let token = request
        .verify_token
        .or_else(|| app.verify_token.clone())
        .ok_or_else(|| ControlError::bad_request("verify_token is required (none configured)"))?;
    let challenge = format!("{}", shared.now().rem_euclid(1_000_000_007));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(shared.config.delivery.timeout_ms))
        .build()
        .map_err(|_| ControlError::conflict("http_client", "cannot build an HTTP client"))?;
    let response = client
        .get(&url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", token.as_str()),
            ("hub.challenge", challenge.as_str()),
        ])
        .send()
        .await;
    let (status, text) = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            (Some(status), response.text().await.unwrap_or_default())
        }
        Err(_) => (None, String::new()),
    };
    Ok(Json(json!({
        "status": status,
        "challenge": challenge,
        "body": text,
        "ok": status == Some(200) && text == challenge,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settle {
    #[serde(default = "default_settle_timeout")]
    timeout_ms: u64,
}

fn default_settle_timeout() -> u64 {
    30_000
}

async fn settle(State(shared): AppState, bytes: Bytes) -> Response {
    let request: Settle = match body(&bytes) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    match shared
        .settle(Duration::from_millis(request.timeout_ms))
        .await
    {
        Ok(()) => Json(json!({"settled": true, "pending": 0})).into_response(),
        Err(pending) => (
            StatusCode::GATEWAY_TIMEOUT,
            Json(json!({"settled": false, "pending": pending})),
        )
            .into_response(),
    }
}

async fn reset_all(State(shared): AppState) -> Json<Value> {
    shared.reset();
    Json(json!({"reset": true}))
}

// ---------------------------------------------------------------------------------------
// Fault injection

fn faults_view(shared: &Shared) -> Json<Value> {
    Json(shared.with_world(|world, _| world.faults.view()))
}

async fn faults(State(shared): AppState) -> Json<Value> {
    faults_view(&shared)
}

async fn reset_faults(State(shared): AppState) -> Json<Value> {
    shared.reset_faults();
    faults_view(&shared)
}

fn check_endpoint(endpoint: &str) -> Result<(), ControlError> {
    if GRAPH_ENDPOINTS.contains(&endpoint) {
        Ok(())
    } else {
        Err(ControlError::bad_request(format!(
            "endpoint must be one of {}",
            GRAPH_ENDPOINTS.join(", ")
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphErrorRequest {
    endpoint: String,
    #[serde(default = "one")]
    count: u32,
    #[serde(default = "default_status")]
    status: u16,
    code: i64,
    error_subcode: Option<i64>,
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    after_applying: bool,
}

fn one() -> u32 {
    1
}

fn default_status() -> u16 {
    400
}

async fn fault_graph_error(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: GraphErrorRequest = body(&bytes)?;
    check_endpoint(&request.endpoint)?;
    if request.count == 0 {
        return Err(ControlError::bad_request("count must be at least 1"));
    }
    if StatusCode::from_u16(request.status).is_err() || request.status < 400 {
        return Err(ControlError::bad_request(
            "status must be an HTTP error status (400-599)",
        ));
    }
    let fault = GraphErrorFault {
        endpoint: request.endpoint,
        remaining: request.count,
        status: request.status,
        code: request.code,
        error_subcode: request.error_subcode,
        message: request
            .message
            .unwrap_or_else(|| default_message(request.code)),
        kind: request.kind.unwrap_or_else(|| "OAuthException".to_owned()),
        after_applying: request.after_applying,
    };
    shared.with_world(|world, _| world.faults.graph_errors.push(fault));
    Ok(faults_view(&shared))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyRequest {
    endpoint: String,
    latency_ms: u64,
    count: Option<u32>,
    #[serde(default)]
    after_applying: bool,
}

async fn fault_latency(State(shared): AppState, bytes: Bytes) -> Reply {
    let request: LatencyRequest = body(&bytes)?;
    check_endpoint(&request.endpoint)?;
    if request.count == Some(0) {
        return Err(ControlError::bad_request(
            "count must be at least 1 (or omitted)",
        ));
    }
    let fault = LatencyFault {
        endpoint: request.endpoint,
        latency_ms: request.latency_ms,
        remaining: request.count,
        after_applying: request.after_applying,
    };
    shared.with_world(|world, _| world.faults.latencies.push(fault));
    Ok(faults_view(&shared))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountRequest {
    count: u32,
}

fn count_of(bytes: &[u8]) -> Result<u32, ControlError> {
    let request: CountRequest = body(bytes)?;
    if request.count == 0 {
        return Err(ControlError::bad_request("count must be at least 1"));
    }
    Ok(request.count)
}

async fn fault_duplicate(State(shared): AppState, bytes: Bytes) -> Reply {
    let count = count_of(&bytes)?;
    shared.with_world(|world, _| world.faults.duplicate_remaining = count);
    Ok(faults_view(&shared))
}

async fn fault_drop_first(State(shared): AppState, bytes: Bytes) -> Reply {
    let count = count_of(&bytes)?;
    shared.with_world(|world, _| world.faults.drop_first_remaining = count);
    Ok(faults_view(&shared))
}

async fn fault_drop_every(State(shared): AppState, bytes: Bytes) -> Reply {
    let count = count_of(&bytes)?;
    shared.with_world(|world, _| world.faults.drop_every_remaining = count);
    Ok(faults_view(&shared))
}

async fn fault_reverse(State(shared): AppState, bytes: Bytes) -> Reply {
    let count = count_of(&bytes)?;
    let release = shared.with_world(|world, _| {
        world
            .faults
            .reverse
            .get_or_insert_with(ReverseHold::default)
            .count = count;
        world.take_held_if_collected()
    });
    shared.dispatcher.send_all(release);
    Ok(faults_view(&shared))
}
