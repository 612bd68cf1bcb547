//! The control-handoff routes: `GET/POST /pages/{page_id}/conversations/...`, their query
//! parameters and bodies, each answered through the control service.

use std::collections::HashMap;

use serde::Deserialize;

use super::auth::{authorize, permit};
use super::reply::{ApiError, Reply};
use super::routes::route_segments;
use super::views::{ControlView, ConversationView, MessageView, TimelineView};
use routing_domain::OwnerRole;
use routing_usecases::config::{ApiToken, TokenScope};
use routing_usecases::control::{ControlRequest, ControlService, MessageRequest};
use routing_usecases::idempotency::Idempotency;
use routing_usecases::ports::StoredAnswer;
use routing_usecases::ports::{TimelineOrder, MAX_PAGE_SIZE};

/// `limit` when a listing names none.
const DEFAULT_LIMIT: u32 = 50;

/// One request of the contract, independent of Lambda's event types.
#[derive(Clone, Copy, Debug)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a HashMap<String, String>,
    /// `Authorization` (or `X-Api-Token`, as `Bearer <token>`).
    pub authorization: Option<&'a str>,
    /// `Idempotency-Key` (agent actions only).
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

/// Route an HTTP request of the contract (bearer token required), without an
/// idempotency key.
pub async fn handle(
    service: &ControlService,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    authorization: Option<&str>,
    body: &[u8],
) -> Reply {
    let request = ApiRequest {
        method,
        path,
        query,
        authorization,
        idempotency_key: None,
        body,
    };
    serve(service, request).await
}

/// Route an HTTP request of the contract (bearer token required).
pub async fn serve(service: &ControlService, request: ApiRequest<'_>) -> Reply {
    let result = match authorize(service.records().config(), request.authorization) {
        Ok(token) => route(service, token, request).await,
        Err(err) => Err(err),
    };
    result.unwrap_or_else(|err| err.reply())
}

async fn route(
    service: &ControlService,
    token: &ApiToken,
    request: ApiRequest<'_>,
) -> Result<Reply, ApiError> {
    let (method, path, query) = (request.method, request.path, request.query);
    let segments = route_segments(path, "pages").ok_or_else(|| {
        ApiError::not_found(
            "unknown_route",
            "expected /pages/{page_id}/conversations/... or /console",
        )
    })?;
    let now = || service.records().now();
    match (method, segments.as_slice()) {
        ("GET", ["pages", page, "conversations"]) => {
            permit(token, page, TokenScope::Read)?;
            let (role, unread) = (parse_role(query)?, parse_unread(query)?);
            let cursor = query.get("cursor").cloned();
            let listing = service
                .queue(page, role, unread, parse_limit(query)?, cursor)
                .await?;
            Ok(Reply::json(200, &ConversationView::listing(listing, now())))
        }
        ("GET", ["pages", page, "conversations", psid]) => {
            permit(token, page, TokenScope::Read)?;
            let record = service.conversation(page, psid).await?;
            Ok(Reply::json(200, &ConversationView::of(&record, now())))
        }
        ("GET", ["pages", page, "conversations", psid, "timeline"]) => {
            permit(token, page, TokenScope::Read)?;
            let (order, limit) = (parse_order(query)?, parse_limit(query)?);
            let cursor = query.get("cursor").map(String::as_str);
            let listing = service.timeline(page, psid, order, limit, cursor).await?;
            Ok(Reply::json(200, &TimelineView::listing(listing)))
        }
        ("POST", ["pages", page, "conversations", psid, action @ ("control" | "messages")]) => {
            permit(token, page, TokenScope::Act)?;
            let service = service.for_token(token);
            act_once(&service, token, request, page, psid, action).await
        }
        ("POST", ["pages", page, "conversations", psid, "read"]) => {
            permit(token, page, TokenScope::Act)?;
            let record = service.mark_read(page, psid).await?;
            Ok(Reply::json(200, &ConversationView::of(&record, now())))
        }
        (_, ["pages", _, "conversations"])
        | (_, ["pages", _, "conversations", _])
        | (_, ["pages", _, "conversations", _, "timeline" | "control" | "messages" | "read"]) => {
            Err(ApiError::method_not_allowed(format!(
                "{method} is not allowed on {path}"
            )))
        }
        _ => Err(ApiError::not_found(
            "unknown_route",
            format!("no route {method} {path}"),
        )),
    }
}

/// An agent action (`control` or `messages`), done once per `Idempotency-Key` of the
/// token: the same key and request again answer the first answer and do nothing.
async fn act_once(
    service: &ControlService,
    token: &ApiToken,
    request: ApiRequest<'_>,
    page: &str,
    psid: &str,
    action: &str,
) -> Result<Reply, ApiError> {
    let Some(key) = request.idempotency_key else {
        return act(service, page, psid, action, request.body).await;
    };
    let keys = Idempotency::new(service.records().clone());
    let fingerprint = Idempotency::fingerprint(action, request.body);
    let scope = Idempotency::token_scope(token.token.expose());
    let answer = keys
        .once((page, psid), (&scope, key), fingerprint, || async {
            let result = act(service, page, psid, action, request.body).await;
            let keep = keeps_answer(&result);
            let reply = result.unwrap_or_else(|err| err.reply());
            let answer = StoredAnswer {
                status: reply.status,
                body: reply.body,
            };
            (answer, keep)
        })
        .await?;
    Ok(Reply::stored(answer.status, answer.body))
}

/// A key keeps the answer of an action that did something or may have (2xx; a 409 after
/// Meta's refusal, which also re-synced; an unknown outcome); it is forgotten when nothing
/// was done and the request may simply be repeated (bad input, an outage, contention).
fn keeps_answer(result: &Result<Reply, ApiError>) -> bool {
    match result {
        Ok(reply) => reply.status < 300,
        Err(err) => err.status == 409 || err.code == "graph_outcome_unknown",
    }
}

async fn act(
    service: &ControlService,
    page: &str,
    psid: &str,
    action: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let now = || service.records().now();
    if action == "control" {
        let request: ControlRequest = parse_body(body)?;
        let outcome = service.control(page, psid, request).await?;
        Ok(Reply::json(200, &ControlView::of(&outcome, now())))
    } else {
        let request: MessageRequest = parse_body(body)?;
        let outcome = service.send_message(page, psid, request).await?;
        Ok(Reply::json(200, &MessageView::of(outcome, now())))
    }
}

fn parse_role(query: &HashMap<String, String>) -> Result<OwnerRole, ApiError> {
    match query.get("role").map(String::as_str) {
        None => Ok(OwnerRole::Inbox),
        Some(r) => OwnerRole::parse(r).ok_or_else(|| {
            ApiError::bad_request(
                "bad_role",
                format!("role: {r:?} is not bot, inbox, page_inbox, other or idle"),
            )
        }),
    }
}

fn parse_unread(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("unread").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "bad_unread",
            format!("unread: {other:?} is not true or false"),
        )),
    }
}

fn parse_order(query: &HashMap<String, String>) -> Result<TimelineOrder, ApiError> {
    match query.get("order").map(String::as_str) {
        None | Some("desc") => Ok(TimelineOrder::NewestFirst),
        Some("asc") => Ok(TimelineOrder::OldestFirst),
        Some(other) => Err(ApiError::bad_request(
            "bad_order",
            format!("order: {other:?} is not asc or desc"),
        )),
    }
}

fn parse_limit(query: &HashMap<String, String>) -> Result<u32, ApiError> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "bad_limit",
                    format!("limit: {raw:?} is not a number from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

/// A JSON body; errors name the field.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request("bad_request", format!("{field}: {}", err.inner()))
    })
}
