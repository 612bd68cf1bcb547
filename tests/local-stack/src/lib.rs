//! The coordinator's local stack, as a library: a DynamoDB API server (moto) with the
//! table, the Messenger Platform emulator with the Page and apps of a configuration
//! document, and the real function binaries behind an API Gateway front
//! ([`lambda_host`]). The end-to-end tests drive it through real HTTP only; the
//! `local-stack` binary runs the same parts under `cargo lambda watch` instead.

pub mod events;
pub mod lambda_host;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_host::{debug_binary, ApiGateway, FunctionSpec, HostedFunction, Route};
use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use routing_core::store::DynamoStore;
use routing_domain::Conversation;
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::ports::Store;
use serde_json::{json, Value};

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// An app of the configuration: its id and its Page token.
#[derive(Clone, Debug)]
pub struct App {
    pub id: String,
    pub token: String,
}

/// The Page and apps of a configuration document (its first Page).
#[derive(Clone, Debug)]
pub struct Cast {
    pub page_id: String,
    pub bot: App,
    pub inbox: App,
    pub api_token: String,
}

impl Cast {
    pub fn from_config(config: &Value) -> Result<Self, Failure> {
        let page = &config["pages"][0];
        let page_id = page["id"]
            .as_str()
            .ok_or("config: pages[0].id")?
            .to_string();
        let app = |id_field: &str| -> Result<App, Failure> {
            let id = page[id_field]
                .as_str()
                .ok_or_else(|| format!("config: pages[0].{id_field}"))?;
            let app = config["apps"]
                .as_array()
                .and_then(|apps| apps.iter().find(|a| a["id"] == id))
                .ok_or_else(|| format!("config: app {id} is not in apps"))?;
            Ok(App {
                id: id.to_string(),
                token: app["page_tokens"][&page_id]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        };
        Ok(Cast {
            bot: app("bot_app_id")?,
            inbox: app("inbox_app_id")?,
            api_token: config["api_tokens"][0]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            page_id,
        })
    }
}

/// The emulator's view of the Page: every app of the configuration, its webhook at
/// `{webhook_base}/webhook/{app_id}`; the bot is the Page's default app.
pub fn emulator_config(config: &Value, webhook_base: &str) -> Result<EmulatorConfig, Failure> {
    let page = &config["pages"][0];
    let page_id = page["id"].as_str().ok_or("config: pages[0].id")?;
    let apps: Vec<Value> = config["apps"]
        .as_array()
        .ok_or("config: apps")?
        .iter()
        .map(|app| {
            let id = app["id"].as_str().unwrap_or_default();
            json!({
                "id": id,
                "name": app["role"],
                "app_secret": app["app_secret"],
                "verify_token": app["verify_token"],
                "page_token": app["page_tokens"][page_id],
                "webhook_url": format!("{webhook_base}/webhook/{id}"),
                "take_control": true,
                "standby": true
            })
        })
        .collect();
    let doc = json!({
        "graph_version": routing_core::meta::graph::DEFAULT_GRAPH_API_VERSION,
        "pages": [{"id": page_id, "default_app_id": page["bot_app_id"], "apps": apps,
                   "buttons": page_buttons(page)}]
    });
    Ok(EmulatorConfig::from_json_str(&doc.to_string())?)
}

/// The Page's buttons on the emulator's chat page: one per handover and return payload of
/// the configuration, titled after it (`TALK_TO_HUMAN` → "Talk to human").
pub fn page_buttons(page: &Value) -> Vec<Value> {
    ["handover_payloads", "return_payloads"]
        .iter()
        .filter_map(|field| page[field].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .map(|payload| json!({"title": button_title(payload), "payload": payload}))
        .collect()
}

/// `TALK_TO_HUMAN` → "Talk to human".
fn button_title(payload: &str) -> String {
    let words = payload.replace('_', " ").to_lowercase();
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// The running system: the store, the emulator, the Page's cast, and (when the functions
/// are hosted in-process) the API Gateway front.
pub struct Stack {
    pub store: DynamoStore,
    pub emulator: RunningEmulator,
    pub cast: Cast,
    pub http: reqwest::Client,
    pub gateway: Option<ApiGateway>,
    /// Where the control-handoff API answers (the gateway, or `cargo lambda watch`).
    pub api_base: Option<String>,
    /// The event bus on moto and its readers (when the event publisher is hosted).
    pub events: Option<events::EventTap>,
}

impl Stack {
    pub fn new(store: DynamoStore, emulator: RunningEmulator, cast: Cast) -> Self {
        Stack {
            store,
            emulator,
            cast,
            http: reqwest::Client::new(),
            gateway: None,
            api_base: None,
            events: None,
        }
    }

    /// Start everything for the configuration at `config_path`, with a fresh table and
    /// the real function binaries hosted behind an API Gateway front.
    pub async fn start_hosted(config_path: &Path) -> Result<Self, Failure> {
        CoordinatorConfig::from_file(config_path)?;
        let config: Value = serde_json::from_str(&std::fs::read_to_string(config_path)?)?;
        let cast = Cast::from_config(&config)?;

        let moto = dynamo_local::server();
        let table = dynamo_local::unique_table_name("e2e");
        let store = DynamoStore::new(DynamoStore::local_client(moto.endpoint(), None), &table);
        store.create_table().await?;

        // The functions need the emulator's URL and the emulator needs the gateway's: take
        // a free port for the emulator first.
        let emulator_port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let env = vec![
            ("TABLE_NAME".to_string(), table.clone()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB".to_string(),
                moto.endpoint().to_string(),
            ),
            (
                "COORDINATOR_CONFIG_FILE".to_string(),
                config_path.display().to_string(),
            ),
            (
                "GRAPH_API_BASE_URL".to_string(),
                format!("http://127.0.0.1:{emulator_port}"),
            ),
            ("RUST_LOG".to_string(), "warn".to_string()),
        ];
        let tap = events::EventTap::start(moto.endpoint(), &table).await?;
        let publisher_env = vec![
            ("EVENT_BUS_NAME".to_string(), tap.bus_name.clone()),
            (
                "AWS_ENDPOINT_URL_EVENTBRIDGE".to_string(),
                moto.endpoint().to_string(),
            ),
            ("RUST_LOG".to_string(), "warn".to_string()),
        ];
        let mut functions = vec![
            HostedFunction::start(FunctionSpec {
                name: "event-publisher".into(),
                binary: debug_binary("event-publisher"),
                env: publisher_env,
            })
            .await?,
        ];
        for name in ["webhook-ingest", "control-handoff", "timed-reset", "resync"] {
            functions.push(
                HostedFunction::start(FunctionSpec {
                    name: name.into(),
                    binary: debug_binary(name),
                    env: env.clone(),
                })
                .await?,
            );
        }
        let gateway = ApiGateway::start(
            functions,
            vec![
                Route {
                    segment: "webhook".into(),
                    function: "webhook-ingest".into(),
                },
                // The agents' console page.
                Route {
                    segment: "console".into(),
                    function: "control-handoff".into(),
                },
                // `.../resync` before `pages`: the first route whose segment appears wins.
                Route {
                    segment: "resync".into(),
                    function: "resync".into(),
                },
                Route {
                    segment: "pages".into(),
                    function: "control-handoff".into(),
                },
            ],
        )
        .await?;
        let emulator = Emulator::start(
            emulator_config(&config, gateway.base_url())?,
            format!("127.0.0.1:{emulator_port}").parse()?,
        )
        .await?;
        let mut stack = Stack::new(store, emulator, cast);
        stack.api_base = Some(gateway.base_url().to_string());
        stack.gateway = Some(gateway);
        stack.events = Some(tap);
        Ok(stack)
    }

    /// Invoke a hosted function directly with an event (Lambda's Invoke API, as for the
    /// scheduled and stream triggers); the function's answer, or its error report.
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Value, Failure> {
        let base = self
            .api_base
            .as_deref()
            .ok_or("no Lambda host in this stack")?;
        let response = self
            .http
            .post(format!(
                "{base}/2015-03-31/functions/{function}/invocations"
            ))
            .json(event)
            .send()
            .await?;
        let failed = response.headers().contains_key("x-amz-function-error");
        let value: Value = response.json().await?;
        if failed {
            return Err(format!("{function} failed: {value}").into());
        }
        Ok(value)
    }

    /// Hand the table's new stream records to the event publisher (as the event source
    /// mapping does in AWS) and return the events the bus delivered to the subscriber's
    /// queue since the last call, oldest first.
    pub async fn published_events(&self) -> Result<Vec<Value>, Failure> {
        let tap = self.events.as_ref().ok_or("no event bus in this stack")?;
        let batch = tap.stream_batch().await?;
        if batch["Records"].as_array().is_some_and(|r| !r.is_empty()) {
            let answer = self.invoke("event-publisher", &batch).await?;
            if answer["batchItemFailures"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
            {
                return Err(format!("event-publisher: {answer}").into());
            }
        }
        tap.received().await
    }

    /// Call the coordinator's control-handoff API (with the configuration's API token);
    /// returns the status and the JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Failure> {
        let base = self
            .api_base
            .as_deref()
            .ok_or("no control-handoff API in this stack")?;
        let url = format!("{base}{path}");
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.cast.api_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// `POST .../control` on this Page.
    pub async fn control_action(&self, psid: &str, body: Value) -> Result<(u16, Value), Failure> {
        self.api(
            "POST",
            &format!("/pages/{}/conversations/{psid}/control", self.cast.page_id),
            Some(body),
        )
        .await
    }

    /// `POST .../messages` on this Page.
    pub async fn agent_message(&self, psid: &str, body: Value) -> Result<(u16, Value), Failure> {
        self.api(
            "POST",
            &format!("/pages/{}/conversations/{psid}/messages", self.cast.page_id),
            Some(body),
        )
        .await
    }

    /// POST to the emulator's control API.
    pub async fn control(&self, path: &str, body: Value) -> Result<Value, Failure> {
        let url = format!("{}/_emulator/{path}", self.emulator.base_url());
        let response = self.http.post(url).json(&body).send().await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("emulator {path}: {status} {value}").into());
        }
        Ok(value)
    }

    /// A Graph API call with an app's Page token.
    pub async fn graph(&self, app: &App, edge: &str, body: Value) -> Result<Value, Failure> {
        let url = format!("{}/{}/{edge}", self.emulator.graph_url(), self.cast.page_id);
        let response = self
            .http
            .post(url)
            .query(&[("access_token", app.token.as_str())])
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("Graph {edge}: {status} {value}").into());
        }
        Ok(value)
    }

    pub async fn customer_says(&self, psid: &str, text: &str) -> Result<Value, Failure> {
        self.control(
            "customer/message",
            json!({"page_id": self.cast.page_id, "psid": psid, "text": text}),
        )
        .await
    }

    pub async fn customer_taps(
        &self,
        psid: &str,
        title: &str,
        payload: &str,
    ) -> Result<Value, Failure> {
        self.control(
            "customer/postback",
            json!({"page_id": self.cast.page_id, "psid": psid, "title": title, "payload": payload}),
        )
        .await
    }

    pub async fn send_as(&self, app: &App, psid: &str, text: &str) -> Result<Value, Failure> {
        self.graph(
            app,
            "messages",
            json!({"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": text}}),
        )
        .await
    }

    pub async fn pass(&self, from: &App, psid: &str, to: &str) -> Result<Value, Failure> {
        self.graph(
            from,
            "pass_thread_control",
            json!({"recipient": {"id": psid}, "target_app_id": to, "metadata": "handover"}),
        )
        .await
    }

    pub async fn take(&self, by: &App, psid: &str) -> Result<Value, Failure> {
        self.graph(
            by,
            "take_thread_control",
            json!({"recipient": {"id": psid}}),
        )
        .await
    }

    /// Wait until every webhook was delivered (each delivery answered 2xx in the end).
    pub async fn settle(&self) -> Result<(), Failure> {
        self.emulator.settle(Duration::from_secs(60)).await?;
        let attempts = self.emulator.deliveries();
        let undelivered = attempts
            .iter()
            .filter(|d| {
                !attempts
                    .iter()
                    .any(|a| a.delivery_id == d.delivery_id && a.outcome == "delivered")
            })
            .count();
        if undelivered > 0 {
            return Err(format!("{undelivered} webhook delivery attempts never succeeded").into());
        }
        Ok(())
    }

    /// The psids of the API's queue of `role` on this Page (only unread ones when asked).
    pub async fn queue(&self, role: &str, unread_only: bool) -> Result<Vec<String>, Failure> {
        let (status, body) = self
            .api(
                "GET",
                &format!(
                    "/pages/{}/conversations?role={role}&unread={unread_only}&limit=50",
                    self.cast.page_id
                ),
                None,
            )
            .await?;
        if status != 200 {
            return Err(format!("queue: {status} {body}").into());
        }
        Ok(body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|c| c["psid"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The conversation's timeline as the API shows it, oldest first (up to 100 entries).
    pub async fn timeline(&self, psid: &str) -> Result<Vec<Value>, Failure> {
        let (status, body) = self
            .api(
                "GET",
                &format!(
                    "/pages/{}/conversations/{psid}/timeline?order=asc&limit=100",
                    self.cast.page_id
                ),
                None,
            )
            .await?;
        if status != 200 {
            return Err(format!("timeline: {status} {body}").into());
        }
        body["items"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("timeline without items: {body}").into())
    }

    /// The emulator's thread of `psid` on this Page.
    fn thread_url(&self, psid: &str) -> String {
        format!(
            "{}/_emulator/threads/{}/{psid}",
            self.emulator.base_url(),
            self.cast.page_id
        )
    }

    /// Seed Meta's (emulated) thread state silently (`owner_app_id`, and optionally
    /// `expires_in_secs`, `last_customer_message_secs_ago`): no webhook reaches anyone.
    pub async fn seed_thread(&self, psid: &str, state: Value) -> Result<(), Failure> {
        let response = self
            .http
            .put(self.thread_url(psid))
            .json(&state)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("emulator threads: {}", response.status()).into());
        }
        Ok(())
    }

    /// Change Meta's (emulated) owner silently: no webhook reaches anyone, as when a human
    /// replies in Meta's inbox and the echo is lost (`None`: idle).
    pub async fn set_true_owner(&self, psid: &str, owner: Option<&str>) -> Result<(), Failure> {
        self.seed_thread(psid, json!({"owner_app_id": owner})).await
    }

    /// Meta's (emulated) true owner: `None` when idle.
    pub async fn true_owner(&self, psid: &str) -> Result<Option<String>, Failure> {
        let view: Value = self
            .http
            .get(self.thread_url(psid))
            .send()
            .await?
            .json()
            .await?;
        Ok(view["owner_app_id"].as_str().map(str::to_string))
    }

    /// The coordinator's record.
    pub async fn record(&self, psid: &str) -> Result<Conversation, Failure> {
        self.store
            .conversation(&self.cast.page_id, psid)
            .await?
            .ok_or_else(|| format!("no record of {psid}").into())
    }

    /// Settle, then the record and Meta's owner, which must agree.
    pub async fn settled_record(&self, psid: &str) -> Result<Conversation, Failure> {
        self.settle().await?;
        let record = self.record(psid).await?;
        let truth = self.true_owner(psid).await?;
        if record.owner.app_id != truth {
            return Err(format!(
                "{psid}: the coordinator says {:?} ({}), Meta says {truth:?}",
                record.owner.app_id,
                record.owner.role.as_str()
            )
            .into());
        }
        Ok(record)
    }
}

/// `config/local.json` of the workspace.
pub fn local_config_path() -> PathBuf {
    dynamo_local::workspace_root().join("config/local.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_buttons_are_its_handover_and_return_payloads() {
        let page =
            json!({"handover_payloads": ["TALK_TO_HUMAN"], "return_payloads": ["BACK_TO_BOT"]});
        assert_eq!(
            page_buttons(&page),
            vec![
                json!({"title": "Talk to human", "payload": "TALK_TO_HUMAN"}),
                json!({"title": "Back to bot", "payload": "BACK_TO_BOT"}),
            ]
        );
        assert!(page_buttons(&json!({})).is_empty());
    }
}
