//! The world a history plays in: the Messenger emulator (Meta), a store, and the real
//! services: webhook ingest behind two HTTP instances the emulator delivers to, the control
//! service, the timed reset and the re-sync, all on the emulator's clock.

use routing_core::meta::webhook::MetaWebhooks;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use messenger_emulator::{DeliveryRecord, Emulator, EmulatorConfig, RunningEmulator};
use routing_core::http::webhook_api;
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_domain::{Clock, EpochMillis};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::control::ControlService;
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::Store;
use routing_usecases::records::Records;
use routing_usecases::resync::Resync;
use routing_usecases::testing::{config_json, BOT, BOT_SECRET, INBOX, INBOX_SECRET, PAGE};
use routing_usecases::timed_reset::TimedReset;
use routing_usecases::triggers::Triggers;
use serde_json::{json, Value};
use tokio::sync::RwLock;

use crate::history::{Conv, PAGES};

/// The other company's bot on the second Page (not one of our apps).
pub const FOREIGN_BOT: &str = "4004";
/// Every Page's window in the histories (seconds).
pub const WINDOW_SECS: i64 = 3600;

/// The coordinator reads Meta's clock: events and decisions share one time line.
struct EmulatorClock(Arc<RunningEmulator>);

impl Clock for EmulatorClock {
    fn now_millis(&self) -> EpochMillis {
        self.0.now_ms()
    }
}

pub struct World {
    pub emulator: Arc<RunningEmulator>,
    pub store: Arc<dyn Store>,
    pub control: ControlService,
    pub resync: Resync,
    pub reset: TimedReset,
    pub http: reqwest::Client,
    /// Held (shared) by every webhook handler while it runs, taken (exclusively) by a
    /// clock jump: no handler straddles one. A Lambda invocation ends within its timeout
    /// (15 s for webhook-ingest), far inside a trigger's 5-minute claim, so a jump of Meta's
    /// clock must not find a handler half-way, which would make its live claim look stale.
    invocations: Arc<RwLock<()>>,
    _webhooks: tokio::task::JoinHandle<()>,
}

/// Several ingest instances behind one URL, taking deliveries in turn.
#[derive(Clone)]
struct Instances {
    ingest: Arc<Vec<WebhookIngest>>,
    next: Arc<AtomicUsize>,
    invocations: Arc<RwLock<()>>,
}

impl World {
    pub async fn start(store: Arc<dyn Store>) -> World {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("webhook listener");
        let webhook_base = format!("http://{}", listener.local_addr().expect("address"));
        let emulator = Emulator::start(
            emulator_config(&webhook_base),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("emulator starts");
        let emulator = Arc::new(emulator);
        let graph = Arc::new(
            GraphClient::new(emulator.base_url(), "v23.0", RetryPolicy::fast()).expect("client"),
        );
        let clock = Arc::new(EmulatorClock(emulator.clone()));
        let records = Records::new(coordinator_config(), store.clone(), clock);
        let instances = Instances {
            ingest: Arc::new(
                (0..2)
                    .map(|_| {
                        MetaWebhooks::ingest(records.clone())
                            .with_triggers(Triggers::new(records.clone(), graph.clone()))
                    })
                    .collect(),
            ),
            next: Arc::new(AtomicUsize::new(0)),
            invocations: Arc::new(RwLock::new(())),
        };
        let invocations = instances.invocations.clone();
        let app = Router::new()
            .route("/webhook/{app_id}", post(deliver))
            .with_state(instances);
        let webhooks = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        World {
            emulator,
            control: ControlService::new(records.clone(), graph.clone()),
            resync: Resync::new(records.clone(), graph.clone()),
            reset: TimedReset::new(records, graph),
            store,
            http: reqwest::Client::new(),
            invocations,
            _webhooks: webhooks,
        }
    }

    /// `POST /_emulator/{path}`: the emulator's answer (null when it is not JSON).
    pub async fn emulator_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/_emulator/{path}", self.emulator.base_url());
        match self.http.post(url).json(&body).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(err) => panic!("emulator {path}: {err}"),
        }
    }

    pub async fn emulator_get(&self, path: &str) -> Value {
        let url = format!("{}/_emulator/{path}", self.emulator.base_url());
        match self.http.get(url).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(err) => panic!("emulator {path}: {err}"),
        }
    }

    /// Time passes at Meta: once every webhook invocation in flight has ended (deliveries
    /// held or not yet sent stay so), none starting meanwhile.
    pub async fn advance_clock(&self, by: Duration) {
        let _no_invocation_in_flight = self.invocations.write().await;
        self.emulator.advance_clock(by);
    }

    /// Wait until every webhook the emulator owes has been delivered (or given up).
    pub async fn settle(&self) {
        let done = self
            .emulator_post("settle", json!({"timeout_ms": 180_000}))
            .await;
        assert_eq!(
            done["settled"], true,
            "the emulator's deliveries settle: {done}"
        );
    }
}

async fn deliver(
    State(instances): State<Instances>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let _invocation = instances.invocations.read().await;
    let turn = instances.next.fetch_add(1, Ordering::Relaxed) % instances.ingest.len();
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    // A delivery carries no query (only the subscription handshake, a GET, has one).
    let path = format!("/webhook/{app_id}");
    let reply = webhook_api::handle(
        &instances.ingest[turn],
        "POST",
        &path,
        &HashMap::new(),
        signature,
        &body,
    )
    .await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, reply.body)
}

/// Meta's side: our Page (our bot is its default app, our inbox, another app) and the
/// second Page (another company's bot is its default app, our inbox).
fn emulator_config(webhooks: &str) -> EmulatorConfig {
    let app = |id: &str, secret: &str, token: &str, hooked: bool| {
        let mut app =
            json!({"id": id, "app_secret": secret, "page_token": token, "take_control": true});
        if hooked {
            app["webhook_url"] = json!(format!("{webhooks}/webhook/{id}"));
        }
        app
    };
    let doc = json!({
        "graph_version": "v23.0",
        "delivery": {"max_attempts": 6, "backoff_ms": 5, "timeout_ms": 10_000},
        "pages": [
            {"id": PAGE, "default_app_id": BOT, "apps": [
                app(BOT, BOT_SECRET, "bot-page-token", true),
                app(INBOX, INBOX_SECRET, "inbox-page-token", true),
                app("3003", "s3", "other-page-token", false)]},
            {"id": PAGES[1], "default_app_id": FOREIGN_BOT, "apps": [
                app(FOREIGN_BOT, "s4", "foreign-bot-token", false),
                app(INBOX, INBOX_SECRET, "inbox-page-token-2", true)]}
        ]
    });
    EmulatorConfig::from_json_str(&doc.to_string()).expect("emulator config")
}

/// Our side: the test configuration with both Pages, a one-hour window.
fn coordinator_config() -> Arc<CoordinatorConfig> {
    let mut doc = config_json();
    doc["pages"][0]["reset_after_secs"] = json!(WINDOW_SECS);
    let mut second = doc["pages"][0].clone();
    second["id"] = json!(PAGES[1]);
    second["bot_app_id"] = json!(FOREIGN_BOT);
    doc["pages"].as_array_mut().expect("pages").push(second);
    doc["apps"][1]["page_tokens"][PAGES[1]] = json!("inbox-page-token-2");
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid configuration"))
}

impl World {
    /// The mids of the customer's messages Meta sent about `conv` (to any app, delivered
    /// or not).
    pub async fn customer_mids(&self, conv: Conv) -> Vec<String> {
        let mut mids: Vec<String> = self
            .deliveries_about(conv)
            .filter(|d| d.kind == "message")
            .filter_map(|d| mid_of(&d.payload))
            .collect();
        mids.sort();
        mids.dedup();
        mids
    }

    /// The mids (messages and echoes) Meta delivered to one of our apps at least once.
    pub fn delivered_mids(&self, conv: Conv) -> HashSet<String> {
        self.deliveries_about(conv)
            .filter(|d| d.outcome == "delivered" && (d.kind == "message" || d.kind == "echo"))
            .filter_map(|d| mid_of_any(&d.payload))
            .collect()
    }

    /// Meta gave up on a delivery about `conv` (every attempt lost).
    pub fn gave_up_on(&self, conv: Conv) -> bool {
        self.deliveries_about(conv).any(|d| {
            d.error
                .as_deref()
                .is_some_and(|e| e.contains("Meta gives up"))
        })
    }

    fn deliveries_about(&self, conv: Conv) -> impl Iterator<Item = DeliveryRecord> {
        self.emulator
            .deliveries()
            .into_iter()
            .filter(move |d| d.psid == conv.psid() && d.page_id == conv.page_id())
    }
}

/// The event of a delivery's body (messaging or standby).
fn event_of(payload: &Value) -> Option<&serde_json::Map<String, Value>> {
    let entry = &payload["entry"][0];
    entry["messaging"][0]
        .as_object()
        .or(entry["standby"][0].as_object())
}

/// A customer message's mid (not an echo).
fn mid_of(payload: &Value) -> Option<String> {
    let message = event_of(payload)?.get("message")?;
    (message["is_echo"] != true).then(|| message["mid"].as_str().map(str::to_string))?
}

/// The mid of a message or an echo.
fn mid_of_any(payload: &Value) -> Option<String> {
    let message = event_of(payload)?.get("message")?;
    message["mid"].as_str().map(str::to_string)
}
