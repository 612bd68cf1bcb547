//! The control-handoff routes: `GET/POST /pages/{page_id}/conversations/...`, their query
//! parameters and bodies, each answered through the control service.

use std::collections::HashMap;

use serde::Deserialize;

use super::auth::authorize;
use super::reply::{ApiError, Reply};
use super::routes::route_segments;
use super::views::{ControlView, ConversationView, MessageView, TimelineView};
use crate::domain::OwnerRole;
use crate::ports::{TimelineOrder, MAX_PAGE_SIZE};
use crate::services::control::{ControlRequest, ControlService, MessageRequest};

/// `limit` when a listing names none.
const DEFAULT_LIMIT: u32 = 50;

/// Route an HTTP request of the contract (bearer token required).
pub async fn handle(
    service: &ControlService,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    authorization: Option<&str>,
    body: &[u8],
) -> Reply {
    let result = match authorize(service.records().config(), authorization) {
        Ok(()) => route(service, method, path, query, body).await,
        Err(err) => Err(err),
    };
    result.unwrap_or_else(|err| err.reply())
}

async fn route(
    service: &ControlService,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let segments = route_segments(path, "pages").ok_or_else(|| {
        ApiError::not_found(
            "unknown_route",
            "expected /pages/{page_id}/conversations/...",
        )
    })?;
    let now = || service.records().now();
    match (method, segments.as_slice()) {
        ("GET", ["pages", page, "conversations"]) => {
            let (role, unread) = (parse_role(query)?, parse_unread(query)?);
            let cursor = query.get("cursor").cloned();
            let listing = service
                .queue(page, role, unread, parse_limit(query)?, cursor)
                .await?;
            Ok(Reply::json(200, &ConversationView::listing(listing, now())))
        }
        ("GET", ["pages", page, "conversations", psid]) => {
            let record = service.conversation(page, psid).await?;
            Ok(Reply::json(200, &ConversationView::of(&record, now())))
        }
        ("GET", ["pages", page, "conversations", psid, "timeline"]) => {
            let (order, limit) = (parse_order(query)?, parse_limit(query)?);
            let cursor = query.get("cursor").map(String::as_str);
            let listing = service.timeline(page, psid, order, limit, cursor).await?;
            Ok(Reply::json(200, &TimelineView::listing(listing)))
        }
        ("POST", ["pages", page, "conversations", psid, "control"]) => {
            let request: ControlRequest = parse_body(body)?;
            let outcome = service.control(page, psid, request).await?;
            Ok(Reply::json(200, &ControlView::of(&outcome, now())))
        }
        ("POST", ["pages", page, "conversations", psid, "messages"]) => {
            let request: MessageRequest = parse_body(body)?;
            let outcome = service.send_message(page, psid, request).await?;
            Ok(Reply::json(200, &MessageView::of(outcome, now())))
        }
        ("POST", ["pages", page, "conversations", psid, "read"]) => {
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
