//! `local-stack`: the whole coordinator on this machine, and a real conversation through it.
//!
//! `local-stack run` (the default) starts a DynamoDB API server (moto) and creates the
//! table, starts the Messenger Platform emulator with the Page and apps of
//! `config/local.json`, runs the functions under `cargo lambda watch`, then plays a
//! scripted conversation: the customer writes, the bot answers, the customer taps
//! "Talk to human", an agent answers, the agent hands back, the customer writes again. After
//! every step it checks that the emulator's true owner equals the coordinator's record,
//! and at the end prints the conversation's timeline. Everything it started is stopped at
//! the end or on Ctrl-C; `--keep-running` leaves the stack up to poke at.
//!
//! `local-stack create-table` creates the table on `AWS_ENDPOINT_URL_DYNAMODB`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use routing_core::config::CoordinatorConfig;
use routing_core::domain::{rfc3339_millis, Conversation, TimelineRecord};
use routing_core::store::{DynamoStore, Store, TimelineOrder};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const TABLE: &str = "coordinator";
const CUSTOMER: &str = "7001";

#[derive(Parser)]
#[command(about = "Run the coordinator locally and play a conversation through it")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bring the stack up and play the scripted conversation (the default).
    Run {
        /// Keep everything running after the conversation, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Port of `cargo lambda watch`.
        #[arg(long, default_value_t = 9000)]
        lambda_port: u16,
        /// Port of the Messenger emulator.
        #[arg(long, default_value_t = 8700)]
        emulator_port: u16,
    },
    /// Create the table (indexes, stream, TTL) on AWS_ENDPOINT_URL_DYNAMODB as TABLE_NAME.
    CreateTable,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Cmd::Run {
        keep_running: false,
        lambda_port: 9000,
        emulator_port: 8700,
    }) {
        Cmd::CreateTable => create_table_from_env().await,
        Cmd::Run {
            keep_running,
            lambda_port,
            emulator_port,
        } => run(keep_running, lambda_port, emulator_port).await,
    };
    if let Err(err) = result {
        eprintln!("local-stack: {err}");
        std::process::exit(1);
    }
}

async fn create_table_from_env() -> Result<(), Failure> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .map_err(|_| "AWS_ENDPOINT_URL_DYNAMODB is not set")?;
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| TABLE.to_string());
    let store = DynamoStore::new(DynamoStore::local_client(&endpoint, None), &table);
    store.create_table().await?;
    println!("created table {table} on {endpoint}");
    Ok(())
}

fn root() -> PathBuf {
    dynamo_local::workspace_root()
}

/// The emulator's view of the Page: the apps of the coordinator's configuration, each with
/// its webhook pointing at webhook-ingest under `cargo lambda watch`.
fn emulator_config(config: &Value, lambda_port: u16) -> Result<EmulatorConfig, Failure> {
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
                "webhook_url": format!("http://127.0.0.1:{lambda_port}/lambda-url/webhook-ingest/webhook/{id}"),
                "take_control": true,
                "standby": true
            })
        })
        .collect();
    let doc = json!({
        "graph_version": "v23.0",
        "pages": [{"id": page_id, "default_app_id": page["bot_app_id"], "apps": apps}]
    });
    Ok(EmulatorConfig::from_json_str(&doc.to_string())?)
}

struct Stack {
    emulator: RunningEmulator,
    watch: Child,
    store: DynamoStore,
    http: reqwest::Client,
    page_id: String,
    bot: (String, String),
    inbox: (String, String),
    lambda_port: u16,
}

async fn run(keep_running: bool, lambda_port: u16, emulator_port: u16) -> Result<(), Failure> {
    let config_path = root().join("config/local.json");
    CoordinatorConfig::from_file(&config_path)?;
    let config: Value = serde_json::from_str(&std::fs::read_to_string(&config_path)?)?;

    println!("== starting the local stack");
    let moto = dynamo_local::server();
    println!("   DynamoDB API (moto)   {}", moto.endpoint());
    let store = DynamoStore::new(DynamoStore::local_client(moto.endpoint(), None), TABLE);
    store.create_table().await?;
    println!("   table                 {TABLE} (indexes, stream, TTL)");

    let emulator = Emulator::start(
        emulator_config(&config, lambda_port)?,
        format!("127.0.0.1:{emulator_port}").parse()?,
    )
    .await?;
    println!("   Messenger emulator    {}", emulator.base_url());

    let watch = start_watch(
        &config_path,
        moto.endpoint(),
        emulator.base_url(),
        lambda_port,
    )?;
    println!(
        "   cargo lambda watch    http://127.0.0.1:{lambda_port} (functions build on first use)"
    );

    let app = |role: &str| -> (String, String) {
        let app = config["apps"]
            .as_array()
            .and_then(|apps| apps.iter().find(|a| a["role"] == role))
            .cloned()
            .unwrap_or_default();
        let page_id = config["pages"][0]["id"].as_str().unwrap_or_default();
        (
            app["id"].as_str().unwrap_or_default().to_string(),
            app["page_tokens"][page_id]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let mut stack = Stack {
        emulator,
        watch,
        store,
        http: reqwest::Client::new(),
        page_id: config["pages"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        bot: app("bot"),
        inbox: app("inbox"),
        lambda_port,
    };

    let outcome = tokio::select! {
        outcome = play(&stack, &config) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    if outcome.is_ok() && keep_running {
        println!();
        println!("== the stack keeps running; Ctrl-C stops it");
        println!("   webhook-ingest  http://127.0.0.1:{lambda_port}/lambda-url/webhook-ingest/webhook/<app_id>");
        println!(
            "   emulator        {}/_emulator/threads (and the rest of its control API)",
            stack.emulator.base_url()
        );
        println!("   DynamoDB        {} (table {TABLE})", moto.endpoint());
        tokio::signal::ctrl_c().await?;
    }
    stop(&mut stack).await;
    outcome
}

fn start_watch(config: &Path, dynamo: &str, graph: &str, port: u16) -> Result<Child, Failure> {
    let cargo_lambda = root().join(".tools/venv/bin/cargo-lambda");
    let mut command = Command::new(&cargo_lambda);
    command
        .args([
            "lambda",
            "watch",
            "--quiet",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(root())
        .env("TABLE_NAME", TABLE)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("COORDINATOR_CONFIG_FILE", config)
        .env("GRAPH_API_BASE_URL", graph)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    command.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e} (run scripts/bootstrap)",
            cargo_lambda.display()
        )
        .into()
    })
}

async fn stop(stack: &mut Stack) {
    if let Some(pid) = stack.watch.id() {
        // The watcher and the function processes it started share one process group.
        // cargo lambda stops on SIGINT (Ctrl-C); SIGKILL if it does not within 10 s.
        let group = format!("-{pid}");
        let _ = std::process::Command::new("kill")
            .args(["-INT", "--", &group])
            .status();
        if tokio::time::timeout(Duration::from_secs(10), stack.watch.wait())
            .await
            .is_err()
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
            let _ = stack.watch.wait().await;
        }
    }
    if let Err(err) = stack.emulator.settle(Duration::from_secs(1)).await {
        eprintln!("local-stack: {err}");
    }
    println!("== stopped everything this run started");
}

impl Stack {
    fn ingest_url(&self, app_id: &str) -> String {
        format!(
            "http://127.0.0.1:{}/lambda-url/webhook-ingest/webhook/{app_id}",
            self.lambda_port
        )
    }

    async fn control(&self, path: &str, body: Value) -> Result<Value, Failure> {
        let url = format!("{}/_emulator/{path}", self.emulator.base_url());
        let response = self.http.post(url).json(&body).send().await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("emulator {path}: {status} {value}").into());
        }
        Ok(value)
    }

    async fn graph(&self, token: &str, edge: &str, body: Value) -> Result<Value, Failure> {
        let url = format!("{}/{}/{edge}", self.emulator.graph_url(), self.page_id);
        let response = self
            .http
            .post(url)
            .query(&[("access_token", token)])
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

    async fn send_as(&self, app: &(String, String), text: &str) -> Result<(), Failure> {
        self.graph(
            &app.1,
            "messages",
            json!({"recipient": {"id": CUSTOMER}, "messaging_type": "RESPONSE", "message": {"text": text}}),
        )
        .await
        .map(drop)
    }

    /// Wait until the emulator delivered everything, then compare its true owner with the
    /// coordinator's record.
    async fn settle_and_check(&self, step: &str) -> Result<Conversation, Failure> {
        self.emulator.settle(Duration::from_secs(60)).await?;
        let attempts = self.emulator.deliveries();
        let failed: std::collections::BTreeSet<u64> = attempts
            .iter()
            .map(|d| d.delivery_id)
            .filter(|id| {
                !attempts
                    .iter()
                    .any(|d| d.delivery_id == *id && d.outcome == "delivered")
            })
            .collect();
        if !failed.is_empty() {
            return Err(format!(
                "{step}: {} webhook deliveries were not answered 200",
                failed.len()
            )
            .into());
        }
        let url = format!(
            "{}/_emulator/threads/{}/{CUSTOMER}",
            self.emulator.base_url(),
            self.page_id
        );
        let truth: Value = self.http.get(url).send().await?.json().await?;
        let record = self
            .store
            .conversation(&self.page_id, CUSTOMER)
            .await?
            .ok_or_else(|| format!("{step}: the coordinator has no record"))?;
        let true_owner = truth["owner_app_id"].as_str().map(str::to_string);
        let agrees = record.owner.app_id == true_owner;
        println!(
            "   {:<44} owner {:<16} unread {:<5} emulator {:<16} {}",
            step,
            format!(
                "{}({})",
                record.owner.role.as_str(),
                record.owner.app_id.as_deref().unwrap_or("-")
            ),
            record.unread,
            true_owner.as_deref().unwrap_or("idle"),
            if agrees { "agree" } else { "DISAGREE" }
        );
        if !agrees {
            return Err(format!(
                "{step}: the coordinator's record disagrees with Meta's (emulated) owner"
            )
            .into());
        }
        Ok(record)
    }
}

async fn wait_for_ingest(stack: &Stack, config: &Value) -> Result<(), Failure> {
    let verify = config["apps"][0]["verify_token"]
        .as_str()
        .unwrap_or_default();
    let url = stack.ingest_url(&stack.bot.0);
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let answer = stack
            .http
            .get(&url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", verify),
                ("hub.challenge", "ready"),
            ])
            .send()
            .await;
        if let Ok(response) = answer {
            if response.status().is_success()
                && response.text().await.unwrap_or_default() == "ready"
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("webhook-ingest did not answer the handshake within 15 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn play(stack: &Stack, config: &Value) -> Result<(), Failure> {
    wait_for_ingest(stack, config).await?;
    println!(
        "   webhook handshake     ok (GET /webhook/{} answered the challenge)",
        stack.bot.0
    );
    println!();
    println!(
        "== conversation with customer {CUSTOMER} on page {}",
        stack.page_id
    );
    let customer = |text: &str| json!({"page_id": stack.page_id, "psid": CUSTOMER, "text": text});

    stack
        .control("customer/message", customer("Hi! Where is my order #1042?"))
        .await?;
    stack.settle_and_check("customer writes").await?;

    stack
        .send_as(
            &stack.bot,
            "I'm the order bot. Your order ships tomorrow. Anything else?",
        )
        .await?;
    stack.settle_and_check("bot owns and answers").await?;

    stack
        .control(
            "customer/postback",
            json!({"page_id": stack.page_id, "psid": CUSTOMER, "title": "Talk to human", "payload": "TALK_TO_HUMAN"}),
        )
        .await?;
    let record = stack
        .settle_and_check("customer taps \"Talk to human\"")
        .await?;
    let action = record
        .pending_action
        .ok_or("the trigger was not recorded")?;
    println!(
        "   {:<44} {:?} by app {}",
        "  trigger recorded", action.action, action.acting_app_id
    );
    // The bot app performs the handover it asked for (the control-handoff function will
    // execute recorded triggers itself).
    stack
        .graph(
            &stack.bot.1,
            "pass_thread_control",
            json!({"recipient": {"id": CUSTOMER}, "target_app_id": stack.inbox.0, "metadata": "customer asked for a human"}),
        )
        .await?;
    let record = stack
        .settle_and_check("bot passes control to the inbox")
        .await?;
    if !record.unread {
        return Err("the handed-over conversation is not unread in the queue".into());
    }

    stack
        .send_as(
            &stack.inbox,
            "Hi, this is Sam from support. Let me check that for you.",
        )
        .await?;
    let record = stack.settle_and_check("agent replies").await?;
    if record.unread {
        return Err("the agent's reply did not clear unread".into());
    }

    stack
        .graph(
            &stack.inbox.1,
            "pass_thread_control",
            json!({"recipient": {"id": CUSTOMER}, "target_app_id": stack.bot.0, "metadata": "done"}),
        )
        .await?;
    stack
        .settle_and_check("agent hands the conversation back")
        .await?;

    stack
        .control("customer/message", customer("Thanks! One more question."))
        .await?;
    let record = stack.settle_and_check("next customer message").await?;
    if record.owner.app_id.as_deref() != Some(stack.bot.0.as_str()) {
        return Err("the next customer message did not go to the bot".into());
    }

    print_timeline(stack).await
}

async fn print_timeline(stack: &Stack) -> Result<(), Failure> {
    println!();
    println!("== timeline of {CUSTOMER} (from the coordinator's DynamoDB table)");
    let page = stack
        .store
        .timeline(
            &stack.page_id,
            CUSTOMER,
            TimelineOrder::OldestFirst,
            200,
            None,
        )
        .await?;
    for entry in page.items {
        let at = rfc3339_millis(entry.at);
        let line = match entry.record {
            TimelineRecord::Message {
                author,
                text,
                payload,
                ..
            } => {
                let text = text.unwrap_or_default();
                match payload {
                    Some(p) => format!(
                        "{:<10} [{text}] (payload {p})",
                        format!("{author:?}").to_lowercase()
                    ),
                    None => format!("{:<10} {text}", format!("{author:?}").to_lowercase()),
                }
            }
            TimelineRecord::Control {
                from,
                to,
                cause,
                event,
                late,
                ..
            } => format!(
                "{:<10} {} -> {} ({:?}, {event}{})",
                "control",
                from.role.as_str(),
                to.role.as_str(),
                cause,
                if late { ", late" } else { "" }
            ),
            TimelineRecord::ControlRequest { requested_by, .. } => {
                format!("{:<10} app {requested_by} asked for control", "request")
            }
            TimelineRecord::ActionRequested { action, source } => {
                format!("{:<10} {action:?} requested by {source}", "trigger")
            }
        };
        println!("   {at}  {line}");
    }
    Ok(())
}
