//! `GET /_emulator/chat?page=..&psid=..`: a small Messenger chat page, so that a person (or
//! a browser test) can be the customer: it shows what the Page sent to this customer and
//! what the customer wrote, has a box to write and the Page's buttons (its configured
//! postbacks, e.g. "Talk to human"). One HTML page with its script and styles embedded; it
//! talks only to this emulator's control API (`/_emulator/customer/*`, `/_emulator/messages`).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::control::{non_empty, query_map, resolve_page, ControlError};
use crate::state::Shared;

/// The page; `/*CHAT_CONFIG*/null` is replaced by the Page, the customer and the buttons.
const CHAT_HTML: &str = include_str!("chat.html");
const CONFIG_SLOT: &str = "/*CHAT_CONFIG*/null";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/_emulator/chat", get(chat))
}

async fn chat(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    match page(&shared, query.as_deref()) {
        Ok(html) => Html(html).into_response(),
        Err(err) => err.into_response(),
    }
}

/// The chat page of `?page=<page id>&psid=<customer>` (`page` may be left out when one
/// Page is configured; `psid` is required).
fn page(shared: &Shared, query: Option<&str>) -> Result<String, ControlError> {
    let query = query_map(query);
    let psid = query.get("psid").ok_or_else(|| {
        ControlError::bad_request(
            "psid is required: /_emulator/chat?page=<page id>&psid=<customer id>",
        )
    })?;
    non_empty("psid", psid)?;
    let page = resolve_page(shared, query.get("page").map(String::as_str))?;
    let config = json!({"page_id": page.id, "psid": psid, "buttons": page.buttons});
    // Inside a <script> element: no "</script>" or "<!--" can be formed from the values.
    let config = config.to_string().replace('<', "\\u003c");
    Ok(CHAT_HTML.replace(CONFIG_SLOT, &config))
}
