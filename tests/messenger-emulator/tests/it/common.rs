//! Test harness: a webhook receiver (small axum server that checks signatures) and an
//! emulator configured to deliver to it, driven over real HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};
use sha2::Sha256;

pub const PAGE: &str = "PAGE1";
pub const BOT: &str = "1001";
pub const INBOX: &str = "2002";
pub const QUIET: &str = "3003";
pub const NO_ROLE: &str = "4004";
pub const PAGE_INBOX: &str = "263902037430900";
pub const BOT_TOKEN: &str = "tok-bot";
pub const INBOX_TOKEN: &str = "tok-inbox";
pub const QUIET_TOKEN: &str = "tok-quiet";
pub const NO_ROLE_TOKEN: &str = "tok-norole";
pub const VERSION: &str = "v23.0";

/// One webhook POST received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub app_id: String,
    pub body: Bytes,
    pub signature: Option<String>,
    pub signature_valid: bool,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    /// `(channel, event)` for every event of every entry.
    pub fn events(&self) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        let body = self.json();
        assert_eq!(body["object"], "page");
        for entry in body["entry"].as_array().expect("entry array") {
            for channel in ["messaging", "standby"] {
                if let Some(list) = entry[channel].as_array() {
                    for event in list {
                        events.push((channel.to_owned(), event.clone()));
                    }
                }
            }
        }
        events
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    secrets: Arc<HashMap<String, String>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_next: Arc<AtomicUsize>,
}

/// A webhook receiver standing in for the coordinator.
pub struct Receiver {
    pub base: String,
    state: ReceiverState,
}

fn verify(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    if hex_sig.chars().any(|c| c.is_ascii_uppercase()) {
        return false;
    }
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn receive(
    State(state): State<ReceiverState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let secret = state.secrets.get(&app_id).cloned().unwrap_or_default();
    let signature_valid = verify(&secret, &body, signature.as_deref());
    state.hits.lock().expect("hits").push(Hit {
        app_id,
        body,
        signature,
        signature_valid,
    });
    if !signature_valid {
        return StatusCode::UNAUTHORIZED;
    }
    let failed = state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failed {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn verify_get(Query(query): Query<HashMap<String, String>>) -> (StatusCode, String) {
    let mode_ok = query.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = query.get("hub.verify_token").map(String::as_str) == Some("vt-good");
    match query.get("hub.challenge") {
        Some(challenge) if mode_ok && token_ok => (StatusCode::OK, challenge.clone()),
        _ => (StatusCode::FORBIDDEN, String::new()),
    }
}

impl Receiver {
    pub async fn start(secrets: &[(&str, &str)]) -> Self {
        let state = ReceiverState {
            secrets: Arc::new(
                secrets
                    .iter()
                    .map(|(a, s)| ((*a).to_owned(), (*s).to_owned()))
                    .collect(),
            ),
            ..ReceiverState::default()
        };
        let app = Router::new()
            .route("/hook/{app_id}", post(receive).get(verify_get))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serve");
        });
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn url(&self, app_id: &str) -> String {
        format!("{}/hook/{app_id}", self.base)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("hits").clone()
    }

    pub fn hits_for(&self, app_id: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.app_id == app_id)
            .collect()
    }

    /// Every event delivered to `app_id`, in arrival order.
    pub fn events_for(&self, app_id: &str) -> Vec<(String, Value)> {
        self.hits_for(app_id).iter().flat_map(Hit::events).collect()
    }

    /// `message.text` of every event delivered to `app_id`, in arrival order.
    pub fn texts_for(&self, app_id: &str) -> Vec<String> {
        self.events_for(app_id)
            .iter()
            .map(|(_, e)| e["message"]["text"].as_str().expect("text").to_owned())
            .collect()
    }

    /// Answer the next `n` webhook POSTs with 500.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }
}

pub fn config_json(receiver: &Receiver) -> Value {
    json!({
        "graph_version": VERSION,
        "pages": [{
            "id": PAGE,
            "default_app_id": BOT,
            "apps": [
                {"id": BOT, "name": "bot", "app_secret": "s1", "page_token": BOT_TOKEN,
                 "webhook_url": receiver.url(BOT), "verify_token": "vt-good",
                 "take_control": false, "standby": true},
                {"id": INBOX, "name": "inbox", "app_secret": "s2", "page_token": INBOX_TOKEN,
                 "webhook_url": receiver.url(INBOX), "take_control": true, "standby": true},
                {"id": QUIET, "name": "quiet", "app_secret": "s3", "page_token": QUIET_TOKEN,
                 "webhook_url": receiver.url(QUIET), "take_control": false, "standby": false},
                {"id": NO_ROLE, "name": "no-role", "app_secret": "s4", "page_token": NO_ROLE_TOKEN,
                 "webhook_url": receiver.url(NO_ROLE), "connected": false}
            ]
        }],
        "delivery": {"max_attempts": 4, "backoff_ms": 20, "timeout_ms": 5000}
    })
}

/// A receiver, an emulator delivering to it, and an HTTP client.
pub struct Env {
    pub emu: RunningEmulator,
    pub rx: Receiver,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the default configuration changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Value)) -> Self {
        let rx =
            Receiver::start(&[(BOT, "s1"), (INBOX, "s2"), (QUIET, "s3"), (NO_ROLE, "s4")]).await;
        let mut doc = config_json(&rx);
        tweak(&mut doc);
        let config = EmulatorConfig::from_json_str(&doc.to_string()).expect("valid config");
        let emu = Emulator::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("emulator starts");
        Self {
            emu,
            rx,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    /// Sends `request`; returns the status and the body (JSON, or the text as a string).
    async fn answer(request: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
        let response = request.send().await.expect(what);
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// POST a JSON body to `/{VERSION}/{PAGE}/{edge}?access_token=TOKEN`.
    pub async fn graph_post(&self, token: &str, edge: &str, body: Value) -> (u16, Value) {
        let request = self
            .http
            .post(self.url(&format!("/{VERSION}/{PAGE}/{edge}")))
            .query(&[("access_token", token)])
            .json(&body);
        Self::answer(request, "graph call").await
    }

    /// `pass_thread_control` of `psid` to `target`.
    pub async fn pass(&self, token: &str, psid: &str, target: &str) -> (u16, Value) {
        self.graph_post(
            token,
            "pass_thread_control",
            json!({"recipient": {"id": psid}, "target_app_id": target}),
        )
        .await
    }

    /// `take_thread_control` of `psid`.
    pub async fn take(&self, token: &str, psid: &str) -> (u16, Value) {
        self.graph_post(
            token,
            "take_thread_control",
            json!({"recipient": {"id": psid}}),
        )
        .await
    }

    /// `release_thread_control` of `psid`.
    pub async fn release(&self, token: &str, psid: &str) -> (u16, Value) {
        self.graph_post(
            token,
            "release_thread_control",
            json!({"recipient": {"id": psid}}),
        )
        .await
    }

    /// `extend_thread_control` of `psid` by `duration` seconds.
    pub async fn extend(&self, token: &str, psid: &str, duration: i64) -> (u16, Value) {
        self.graph_post(
            token,
            "extend_thread_control",
            json!({"recipient": {"id": psid}, "duration": duration}),
        )
        .await
    }

    /// GET `/{VERSION}/{PAGE}/thread_owner?recipient=PSID&access_token=TOKEN`.
    pub async fn thread_owner(&self, token: &str, psid: &str) -> (u16, Value) {
        let request = self
            .http
            .get(self.url(&format!("/{VERSION}/{PAGE}/thread_owner")))
            .query(&[("recipient", psid), ("access_token", token)]);
        Self::answer(request, "graph call").await
    }

    pub async fn send_text(&self, token: &str, psid: &str, text: &str) -> (u16, Value) {
        self.graph_post(
            token,
            "messages",
            json!({"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": text}}),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        Self::answer(self.http.post(self.url(path)).json(&body), "control call").await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::answer(self.http.get(self.url(path)), "control call").await
    }

    /// The customer writes; returns the answer of the control API.
    pub async fn customer_says(&self, psid: &str, text: &str) -> Value {
        let (status, body) = self
            .post(
                "/_emulator/customer/message",
                json!({"psid": psid, "text": text}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn settle(&self) {
        let (status, body) = self.post("/_emulator/settle", json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"settled": true, "pending": 0}));
    }

    pub async fn thread(&self, psid: &str) -> Value {
        let (status, body) = self.get(&format!("/_emulator/threads/{PAGE}/{psid}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn advance(&self, seconds: i64) {
        let (status, body) = self
            .post("/_emulator/clock/advance", json!({"seconds": seconds}))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Delivery attempts recorded by the emulator for `app_id`.
    pub async fn deliveries(&self, app_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/_emulator/webhooks?app_id={app_id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["deliveries"].as_array().expect("deliveries").clone()
    }
}

/// Asserts a Graph error answer.
pub fn assert_graph_error(answer: &(u16, Value), code: i64, subcode: Option<i64>) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], json!(code), "{body}");
    assert_eq!(error["type"], "OAuthException", "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["fbtrace_id"].as_str().is_some(), "{body}");
    match subcode {
        Some(subcode) => assert_eq!(error["error_subcode"], json!(subcode), "{body}"),
        None => assert!(error.get("error_subcode").is_none(), "{body}"),
    }
}
