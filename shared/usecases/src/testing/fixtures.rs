//! Fixtures: the test configuration (one Page, our bot and inbox apps) and builders for
//! webhook events in Meta's shapes.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::CoordinatorConfig;
use routing_domain::PAGE_INBOX_APP_ID;

pub const PAGE: &str = "111";
pub const BOT: &str = "1001";
pub const INBOX: &str = "2002";
/// An app connected to the Page that the coordinator does not act as.
pub const OTHER_APP: &str = "3003";
pub const BOT_SECRET: &str = "bot-app-secret";
pub const INBOX_SECRET: &str = "inbox-app-secret";
pub const BOT_VERIFY: &str = "bot-verify-token";
pub const INBOX_VERIFY: &str = "inbox-verify-token";
pub const API_TOKEN: &str = "test-api-token-0123456789";

/// The configuration document used across tests: one Page, our bot and inbox apps.
pub fn config_json() -> Value {
    json!({
        "apps": [
            {"id": BOT, "role": "bot", "app_secret": BOT_SECRET, "verify_token": BOT_VERIFY,
             "page_tokens": {PAGE: "bot-page-token"}},
            {"id": INBOX, "role": "inbox", "app_secret": INBOX_SECRET, "verify_token": INBOX_VERIFY,
             "page_tokens": {PAGE: "inbox-page-token"}}
        ],
        "pages": [
            {"id": PAGE, "bot_app_id": BOT, "inbox_app_id": INBOX,
             "reset_after_secs": 86400, "reset_action": "release",
             "handover_payloads": ["TALK_TO_HUMAN"], "return_payloads": ["BACK_TO_BOT"],
             "handover_keywords": ["human", "talk to agent"], "auto_grant_requests": true,
             "messages": {"to_human": "You're now chatting with a person.",
                          "to_bot": "You're back with the bot."}}
        ],
        "api_tokens": [API_TOKEN]
    })
}

pub fn config() -> Arc<CoordinatorConfig> {
    match CoordinatorConfig::from_json(&config_json().to_string()) {
        Ok(config) => Arc::new(config),
        Err(err) => panic!("test configuration is invalid: {err}"),
    }
}

/// The entry time of bodies whose events carry no timestamp (2023-11-14).
pub const ENTRY_TIME: i64 = 1_700_000_000_000;

/// `{"object":"page","entry":[{"id":PAGE,"time":t,"<list>":[events]}]}`
pub fn envelope(list: &str, events: Vec<Value>) -> Value {
    let time = events
        .iter()
        .filter_map(|e| e["timestamp"].as_i64())
        .max()
        .unwrap_or(ENTRY_TIME);
    json!({"object": "page", "entry": [{"id": PAGE, "time": time, list: events}]})
}

/// Several entries in one body.
pub fn envelope_of_entries(entries: Vec<Value>) -> Value {
    json!({"object": "page", "entry": entries})
}

pub fn entry(list: &str, events: Vec<Value>) -> Value {
    json!({"id": PAGE, "time": ENTRY_TIME, list: events})
}

pub fn message(psid: &str, ts: i64, mid: &str, text: &str) -> Value {
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts,
           "message": {"mid": mid, "text": text}})
}

pub fn quick_reply(psid: &str, ts: i64, mid: &str, text: &str, payload: &str) -> Value {
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts,
           "message": {"mid": mid, "text": text, "quick_reply": {"payload": payload}}})
}

pub fn postback(psid: &str, ts: i64, title: &str, payload: Option<&str>) -> Value {
    let mut postback = json!({"title": title, "mid": format!("pb-{psid}-{ts}")});
    if let Some(payload) = payload {
        postback["payload"] = json!(payload);
    }
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts, "postback": postback})
}

pub fn echo(psid: &str, ts: i64, mid: &str, app_id: &str, text: &str) -> Value {
    json!({"sender": {"id": PAGE}, "recipient": {"id": psid}, "timestamp": ts,
           "message": {"is_echo": true, "app_id": app_id, "mid": mid, "text": text}})
}

pub fn page_inbox_echo(psid: &str, ts: i64, mid: &str, text: &str) -> Value {
    echo(psid, ts, mid, PAGE_INBOX_APP_ID, text)
}

pub fn pass(psid: &str, ts: i64, previous: Option<&str>, new_owner: &str) -> Value {
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts,
           "pass_thread_control": {"previous_owner_app_id": previous,
                                   "new_owner_app_id": new_owner, "metadata": "handover"}})
}

pub fn take(psid: &str, ts: i64, previous: &str, new_owner: Option<&str>) -> Value {
    let mut take = json!({"previous_owner_app_id": previous, "metadata": "taken"});
    if let Some(new_owner) = new_owner {
        take["new_owner_app_id"] = json!(new_owner);
    }
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts,
           "take_thread_control": take})
}

pub fn request(psid: &str, ts: i64, requester: &str) -> Value {
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts,
           "request_thread_control": {"requested_owner_app_id": requester, "metadata": "please"}})
}

pub fn read(psid: &str, ts: i64) -> Value {
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts,
           "read": {"watermark": ts}})
}

pub fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}
