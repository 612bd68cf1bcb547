//! `local-stack`: the whole coordinator on this machine, and a real conversation through it.
//!
//! `local-stack run` (the default) starts a DynamoDB API server (moto) and creates the
//! table, starts the Messenger Platform emulator with the Page and apps of
//! `config/local.json`, runs the functions under `cargo lambda watch`, then plays a
//! scripted conversation: the customer writes, the bot answers, the customer taps
//! "Talk to human", an agent answers, the agent hands back, the customer writes again. After
//! every step it checks that the emulator's true owner equals the coordinator's record,
//! and at the end prints the conversation's timeline. Then a second customer is left
//! waiting past the (shortened) window and the sweep gives control back (timed-reset,
//! invoked with its sample events), and a silent takeover by Meta's inbox is corrected by
//! the resync route and its scheduled batch, and the events the run put on the event bus
//! (EventBridge on moto) are printed. Everything it started is stopped at
//! the end or on Ctrl-C; `--keep-running` leaves the stack up to poke at.
//!
//! `local-stack create-table` creates the table on `AWS_ENDPOINT_URL_DYNAMODB`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use local_stack::{emulator_config, local_config_path, Cast, Failure, Stack};
use messenger_emulator::Emulator;
use routing_core::store::DynamoStore;
use routing_domain::{rfc3339_millis, rfc3339_secs, Conversation, Happening};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::ports::TimelineOrder;
use serde_json::Value;
use tokio::process::{Child, Command};

const TABLE: &str = "coordinator";
const CUSTOMER: &str = "7001";
/// The customer nobody answers (the timed reset).
const WAITING: &str = "7002";
/// The Page's window in the local run (config/local.json has 24 h).
const DEMO_WINDOW_SECS: i64 = 5;

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

async fn run(keep_running: bool, lambda_port: u16, emulator_port: u16) -> Result<(), Failure> {
    // config/local.json with the Page's window shortened, so the timed reset is seen.
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(local_config_path())?)?;
    config["pages"][0]["reset_after_secs"] = serde_json::json!(DEMO_WINDOW_SECS);
    let run_dir = dynamo_local::workspace_root().join("target/local-stack");
    std::fs::create_dir_all(&run_dir)?;
    let config_path = run_dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
    CoordinatorConfig::from_file(&config_path)?;
    let cast = Cast::from_config(&config)?;

    println!("== starting the local stack");
    let moto = dynamo_local::server();
    println!("   DynamoDB API (moto)   {}", moto.endpoint());
    let store = DynamoStore::new(DynamoStore::local_client(moto.endpoint(), None), TABLE);
    store.create_table().await?;
    println!("   table                 {TABLE} (indexes, stream, TTL)");
    println!(
        "   configuration         {} (config/local.json, window {DEMO_WINDOW_SECS} s)",
        config_path.display()
    );

    let lambda_url = format!("http://127.0.0.1:{lambda_port}/lambda-url/webhook-ingest");
    let emulator = Emulator::start(
        emulator_config(&config, &lambda_url)?,
        format!("127.0.0.1:{emulator_port}").parse()?,
    )
    .await?;
    println!("   Messenger emulator    {}", emulator.base_url());

    let tap = local_stack::events::EventTap::start(moto.endpoint(), TABLE).await?;
    println!(
        "   event bus (moto)      {} (a rule to an SQS queue this runner reads)",
        tap.bus_name
    );

    let log_path = run_dir.join("functions.log");
    let mut watch = start_watch(
        &config_path,
        moto.endpoint(),
        emulator.base_url(),
        lambda_port,
        &tap.bus_name,
        Watching {
            log: &log_path,
            reload: keep_running,
        },
    )?;
    println!(
        "   cargo lambda watch    http://127.0.0.1:{lambda_port} (functions build on first use)"
    );
    println!(
        "   function logs         {} (the watcher's and the functions' output)",
        log_path.display()
    );
    let mut stack = Stack::new(store, emulator, cast);
    stack.events = Some(tap);
    stack.api_base = Some(format!(
        "http://127.0.0.1:{lambda_port}/lambda-url/control-handoff"
    ));

    let outcome = tokio::select! {
        outcome = play(&stack, &config, &lambda_url, lambda_port) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    if outcome.is_err() {
        print_log_tail(&log_path);
    }
    if outcome.is_ok() && keep_running {
        let console = format!("http://127.0.0.1:{lambda_port}/lambda-url/control-handoff/console");
        let chat = format!(
            "{}/_emulator/chat?page={}&psid=7003",
            stack.emulator.base_url(),
            stack.cast.page_id
        );
        println!();
        println!("== the stack keeps running; Ctrl-C stops it");
        println!(
            "   agents' console {console} (API token {}, Page {})",
            stack.cast.api_token, stack.cast.page_id
        );
        println!("   customer's chat {chat} (any psid: each is a customer)");
        println!("   webhook-ingest  {lambda_url}/webhook/<app_id>");
        println!(
            "   emulator        {}/_emulator/threads (and the rest of its control API)",
            stack.emulator.base_url()
        );
        println!("   DynamoDB        {} (table {TABLE})", moto.endpoint());
        tokio::signal::ctrl_c().await?;
    }
    stop(&mut watch).await;
    if let Err(err) = stack.emulator.settle(Duration::from_secs(1)).await {
        eprintln!("local-stack: {err}");
    }
    println!("== stopped everything this run started");
    outcome
}

/// The `cargo-lambda` that scripts/bootstrap installs.
fn cargo_lambda() -> PathBuf {
    dynamo_local::workspace_root().join(".tools/venv/bin/cargo-lambda")
}

/// Where the watcher's output goes, and whether it rebuilds the functions on changes.
struct Watching<'a> {
    /// The watcher's and the functions' stdout and stderr (their logs, the sweep's metric
    /// lines), kept out of the story.
    log: &'a Path,
    /// Rebuild and restart a function when its code changes (`--keep-running`, for poking
    /// at the stack while editing); the scripted run ignores changes.
    reload: bool,
}

fn start_watch(
    config: &Path,
    dynamo: &str,
    graph: &str,
    port: u16,
    bus: &str,
    watching: Watching<'_>,
) -> Result<Child, Failure> {
    let cargo_lambda = cargo_lambda();
    let log = std::fs::File::create(watching.log)?;
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
        .args((!watching.reload).then_some("--ignore-changes"))
        .current_dir(dynamo_local::workspace_root())
        .env("TABLE_NAME", TABLE)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo)
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", dynamo)
        .env("EVENT_BUS_NAME", bus)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("COORDINATOR_CONFIG_FILE", config)
        .env("GRAPH_API_BASE_URL", graph)
        // Not lambda_runtime's warning that cargo lambda's AWS_LAMBDA_MAX_CONCURRENCY is
        // set while the functions serve one invocation at a time (as in Lambda).
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,lambda_runtime=error".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
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

/// The last lines of the functions' log, when the story failed.
fn print_log_tail(log: &Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("== the last lines of {}", log.display());
    for line in &lines[lines.len().saturating_sub(40)..] {
        eprintln!("   {line}");
    }
}

/// The watcher and the function processes it started share one process group. SIGINT
/// (Ctrl-C) to the watcher alone: it stops its functions itself (a SIGINT to the whole
/// group had the functions exit under it, and it reported their exits as errors); SIGKILL
/// to the group when it has not stopped within 10 s.
async fn stop(watch: &mut Child) {
    if let Some(pid) = watch.id() {
        let group = format!("-{pid}");
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(10), watch.wait())
            .await
            .is_err()
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
            let _ = watch.wait().await;
        }
    }
}

async fn wait_for_ingest(stack: &Stack, config: &Value, lambda_url: &str) -> Result<(), Failure> {
    let verify = config["apps"][0]["verify_token"]
        .as_str()
        .unwrap_or_default();
    let app = config["apps"][0]["id"].as_str().unwrap_or_default();
    let url = format!("{lambda_url}/webhook/{app}");
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let answer = stack
            .http
            .get(&url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", verify),
                ("hub.challenge", "1158201444"),
            ])
            .send()
            .await;
        if let Ok(response) = answer {
            if response.status().is_success()
                && response.text().await.unwrap_or_default() == "1158201444"
            {
                println!("   webhook handshake     ok (GET /webhook/{app} answered the challenge)");
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("webhook-ingest did not answer the handshake within 15 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One step of the main conversation.
async fn step(stack: &Stack, name: &str) -> Result<Conversation, Failure> {
    step_of(stack, CUSTOMER, name).await
}

/// One step: settle, compare with Meta's owner, print.
async fn step_of(stack: &Stack, psid: &str, name: &str) -> Result<Conversation, Failure> {
    let record = stack.settled_record(psid).await?;
    println!(
        "   {:<40} owner {:<16} unread {:<5} Meta's owner {:<6} agree",
        name,
        owner_label(&record),
        record.unread,
        record.owner.app_id.as_deref().unwrap_or("idle"),
    );
    Ok(record)
}

/// The record's owner as `role(app_id)`.
fn owner_label(record: &Conversation) -> String {
    format!(
        "{}({})",
        record.owner.role.as_str(),
        record.owner.app_id.as_deref().unwrap_or("-")
    )
}

/// `POST .../messages` to the main customer, which must succeed.
async fn message_ok(stack: &Stack, body: Value) -> Result<(), Failure> {
    let (status, answer) = stack.agent_message(CUSTOMER, body).await?;
    if status != 200 {
        return Err(format!(
            "POST /pages/{}/conversations/{CUSTOMER}/messages: {status} {answer}",
            stack.cast.page_id
        )
        .into());
    }
    Ok(())
}

async fn play(
    stack: &Stack,
    config: &Value,
    lambda_url: &str,
    lambda_port: u16,
) -> Result<(), Failure> {
    wait_for_ingest(stack, config, lambda_url).await?;
    let console = format!("http://127.0.0.1:{lambda_port}/lambda-url/control-handoff/console");
    let page = stack.http.get(&console).send().await?;
    if !page.status().is_success() {
        return Err(format!("GET {console}: {}", page.status()).into());
    }
    println!("   agents' console       {console} (sign in with the API token)");
    println!();
    println!(
        "== conversation with customer {CUSTOMER} on page {}",
        stack.cast.page_id
    );

    stack
        .customer_says(CUSTOMER, "Hi! Where is my order #1042?")
        .await?;
    step(stack, "customer writes").await?;

    message_ok(
        stack,
        serde_json::json!({"as": "bot", "text": "I'm the order bot. Your order ships tomorrow. Anything else?"}),
    )
    .await?;
    step(stack, "bot owns and answers").await?;

    stack
        .customer_taps(CUSTOMER, "Talk to human", "TALK_TO_HUMAN")
        .await?;
    let record = step(stack, "customer taps \"Talk to human\"").await?;
    if record.owner.app_id.as_deref() != Some(stack.cast.inbox.id.as_str()) || !record.unread {
        return Err("the trigger did not hand the conversation to the inbox, unread".into());
    }
    let queued = stack.queue("inbox", true).await?;
    println!("   {:<40} {queued:?}", "  agents' unread queue");
    if !queued.iter().any(|psid| psid == CUSTOMER) {
        return Err("the conversation is not in the agents' unread queue".into());
    }

    message_ok(
        stack,
        serde_json::json!({"as": "inbox", "text": "Hi, this is Sam from support. Let me check that for you."}),
    )
    .await?;
    if step(stack, "agent replies").await?.unread {
        return Err("the agent's reply did not clear unread".into());
    }

    message_ok(
        stack,
        serde_json::json!({"as": "inbox", "text": "It's on its way. Anything else, just write!", "reset_after": true}),
    )
    .await?;
    step(stack, "agent resets with the final message").await?;

    stack
        .customer_says(CUSTOMER, "Thanks! One more question.")
        .await?;
    let record = step(stack, "next customer message").await?;
    if record.owner.app_id.as_deref() != Some(stack.cast.bot.id.as_str()) {
        return Err("the next customer message did not go to the bot".into());
    }

    print_timeline(stack).await?;
    timed_reset(stack, lambda_port).await?;
    resync(stack, lambda_port).await?;
    print_events(stack, lambda_port).await
}

/// The events the run produced: the table's stream records handed to event-publisher (as
/// the event source mapping does in AWS), and what the bus delivered to the subscriber's
/// queue.
async fn print_events(stack: &Stack, lambda_port: u16) -> Result<(), Failure> {
    let tap = stack.events.as_ref().ok_or("no event bus")?;
    println!();
    println!("== events on the bus (EventBridge on moto, read from the rule's SQS queue)");
    let batch = tap.stream_batch().await?;
    let records = batch["Records"].as_array().map_or(0, Vec::len);
    // Relative to the workspace, where `cargo lambda invoke` runs.
    let file = "target/local-stack/stream-batch.json";
    std::fs::write(dynamo_local::workspace_root().join(file), batch.to_string())?;
    let answer = invoke("event-publisher", file, lambda_port).await?;
    println!("     {records} conversation-record changes from the stream: {answer}");
    if answer["batchItemFailures"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        return Err("event-publisher could not publish every event".into());
    }
    let events = tap.received().await?;
    for event in &events {
        let d = &event["detail"];
        println!(
            "   {}  {:<31} {:<5} v{:<3} {} -> {} ({}, {})",
            d["time"].as_str().unwrap_or_default(),
            event["detail-type"].as_str().unwrap_or_default(),
            d["psid"].as_str().unwrap_or_default(),
            d["version"],
            d["from"]["role"].as_str().unwrap_or_default(),
            d["to"]["role"].as_str().unwrap_or_default(),
            d["cause"].as_str().unwrap_or_default(),
            d["event"].as_str().unwrap_or_default(),
        );
    }
    if !events
        .iter()
        .any(|e| e["detail-type"] == "conversation.reset_by_timeout")
    {
        return Err("the timed reset produced no event".into());
    }
    Ok(())
}

/// A human answers customer 7001 in Meta's inbox and the echo webhook is lost: the record
/// has drifted. The resync route (through `cargo lambda watch`) asks Meta and corrects it.
async fn resync(stack: &Stack, lambda_port: u16) -> Result<(), Failure> {
    println!();
    println!("== re-sync: a human answers {CUSTOMER} in Meta's inbox; the echo webhook is lost");
    let page = &stack.cast.page_id;
    stack
        .set_true_owner(CUSTOMER, Some(routing_domain::PAGE_INBOX_APP_ID))
        .await?;
    let record = stack.record(CUSTOMER).await?;
    println!(
        "   {:<40} owner {:<16} Meta's owner {} (drifted)",
        "Meta's inbox took it silently",
        owner_label(&record),
        routing_domain::PAGE_INBOX_APP_ID
    );
    let url = format!(
        "http://127.0.0.1:{lambda_port}/lambda-url/resync/pages/{page}/conversations/{CUSTOMER}/resync"
    );
    let answer: Value = stack
        .http
        .post(&url)
        .bearer_auth(&stack.cast.api_token)
        .send()
        .await?
        .json()
        .await?;
    println!("   $ curl -X POST {url}");
    println!(
        "     changed {} owner {} until {}",
        answer["changed"], answer["owner"], answer["control_expires_at"]
    );
    let record = step(stack, "after POST .../resync").await?;
    if record.owner.role != routing_domain::OwnerRole::PageInbox {
        return Err("the re-sync did not correct the record".into());
    }
    let report = invoke("resync", "functions/resync/events/batch.json", lambda_port).await?;
    println!("     batch: {report}");
    Ok(())
}

/// `cargo lambda invoke <function> --data-file <sample event>` against the watcher; the
/// function's answer.
async fn invoke(function: &str, event: &str, lambda_port: u16) -> Result<Value, Failure> {
    let output = Command::new(cargo_lambda())
        .args(["lambda", "invoke", function, "--data-file", event])
        .args(["--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &lambda_port.to_string()])
        .args(["--output-format", "json"])
        .current_dir(dynamo_local::workspace_root())
        .stdin(Stdio::null())
        .output()
        .await?;
    if !output.status.success() {
        return Err(format!(
            "cargo lambda invoke {function}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    println!("   $ cargo lambda invoke {function} --data-file {event}");
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A second customer asks for a human and nobody answers: after the window, the sweep
/// (invoked with its sample event, as EventBridge Scheduler would) gives control back.
async fn timed_reset(stack: &Stack, lambda_port: u16) -> Result<(), Failure> {
    println!();
    println!("== timed reset: customer {WAITING} asks for a human, nobody answers for {DEMO_WINDOW_SECS} s");
    stack
        .customer_says(WAITING, "Hello? I need a person.")
        .await?;
    step_of(stack, WAITING, "customer writes").await?;
    stack
        .customer_taps(WAITING, "Talk to human", "TALK_TO_HUMAN")
        .await?;
    let record = step_of(stack, WAITING, "customer taps \"Talk to human\"").await?;
    let due = record
        .control_expires_at
        .ok_or("handed to the inbox without a lease")?;
    // The deadline is wall-clock time: wait for it, then sweep.
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        < u64::try_from(due)? + 1
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("   {:<40} lease due {}", "window passed", rfc3339_secs(due));
    let report = invoke(
        "timed-reset",
        "functions/timed-reset/events/schedule.json",
        lambda_port,
    )
    .await?;
    println!("     {report}");
    let record = step_of(stack, WAITING, "after one sweep").await?;
    if record.owner.app_id.is_some() || record.control_expires_at.is_some() {
        return Err("the sweep did not give control back".into());
    }
    let answer = invoke(
        "timed-reset",
        "functions/timed-reset/events/ttl-deletion.json",
        lambda_port,
    )
    .await?;
    println!(
        "     TTL deletion of {CUSTOMER}'s lease (stream sample): {answer} (no lease due: a no-op)"
    );
    Ok(())
}

async fn print_timeline(stack: &Stack) -> Result<(), Failure> {
    use routing_usecases::ports::Store;
    println!();
    println!("== timeline of {CUSTOMER} (from the coordinator's DynamoDB table)");
    let page = stack
        .store
        .timeline(
            &stack.cast.page_id,
            CUSTOMER,
            TimelineOrder::OldestFirst,
            200,
            None,
        )
        .await?;
    for entry in page.items {
        let line = match entry.record {
            Happening::Message {
                author,
                text,
                payload,
                ..
            } => {
                let who = format!("{author:?}").to_lowercase();
                let text = text.unwrap_or_default();
                match payload {
                    Some(p) => format!("{who:<10} [{text}] (payload {p})"),
                    None => format!("{who:<10} {text}"),
                }
            }
            Happening::Control {
                from,
                to,
                cause,
                event,
                late,
                ..
            } => format!(
                "{:<10} {} -> {} ({cause:?}, {event}{})",
                "control",
                from.role.as_str(),
                to.role.as_str(),
                if late { ", late" } else { "" }
            ),
            Happening::ControlRequest { requested_by, .. } => {
                format!("{:<10} app {requested_by} asked for control", "request")
            }
            Happening::ActionRequested { action, source } => {
                format!("{:<10} {action:?} requested by {source}", "trigger")
            }
            Happening::System { event, .. } => format!("{:<10} from Meta ({event})", "system"),
            Happening::ActionFailed { action, reason, .. } => {
                format!("{:<10} {action:?} failed: {reason}", "trigger")
            }
        };
        println!("   {}  {line}", rfc3339_millis(entry.at));
    }
    Ok(())
}
