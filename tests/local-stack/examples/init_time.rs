//! The init probe: how long each function takes from process start to its first
//! `GET /2018-06-01/runtime/invocation/next` (what Lambda bills as init, minus the
//! sandbox's own start), next to a hello-world `lambda_runtime` binary (`hello-lambda`,
//! crate `tests/init-baseline`) built in the same profile. It serves a local Runtime API,
//! starts each binary `--runs` times (interleaved, so a busy machine slows all alike),
//! and prints the medians and the ratio to the hello-world's median. A benchmark: it
//! reports numbers and asserts nothing about time.
//!
//! `bash scripts/init-time` builds the release binaries and runs it; by hand:
//! `cargo run -p local-stack --example init_time -- --dir target/release --runs 15`
//!
//! The functions read `config/local.json`; nothing is requested from DynamoDB or Graph
//! during init, so no server is needed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use local_stack::{local_config_path, Failure};
use tokio::process::Command;
use tokio::sync::{mpsc, Mutex};

const FUNCTIONS: [&str; 5] = [
    "webhook-ingest",
    "control-handoff",
    "timed-reset",
    "resync",
    "event-publisher",
];
const BASELINE: &str = "hello-lambda";

/// The moments the Runtime API saw a first `GET .../next`.
#[derive(Clone)]
struct Probe {
    arrivals: Arc<Mutex<mpsc::Sender<Instant>>>,
}

async fn next_invocation(State(probe): State<Probe>) -> impl IntoResponse {
    let now = Instant::now();
    let _ = probe.arrivals.lock().await.send(now).await;
    // Never answer: the probe kills the process once it has asked.
    std::future::pending::<()>().await;
    ""
}

struct Args {
    dir: PathBuf,
    runs: usize,
}

fn args() -> Result<Args, Failure> {
    let mut dir = dynamo_local::workspace_root().join("target/release");
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        dir = PathBuf::from(target).join("release");
    }
    let mut runs = 15;
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--dir" => dir = PathBuf::from(given.next().ok_or("--dir needs a path")?),
            "--runs" => runs = given.next().ok_or("--runs needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(Args { dir, runs })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let Args { dir, runs } = args()?;
    let (sender, mut arrivals) = mpsc::channel(4);
    let probe = Probe {
        arrivals: Arc::new(Mutex::new(sender)),
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .with_state(probe);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let names: Vec<&str> = std::iter::once(BASELINE).chain(FUNCTIONS).collect();
    for name in &names {
        if !dir.join(name).exists() {
            return Err(format!(
                "{} is not built: `bash scripts/init-time` builds it",
                dir.join(name).display()
            )
            .into());
        }
    }
    let config = local_config_path();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); names.len()];
    for _ in 0..runs {
        for (i, name) in names.iter().enumerate() {
            let mut command = Command::new(dir.join(name));
            command
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "probe")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("TABLE_NAME", "coordinator")
                .env("EVENT_BUS_NAME", "messenger-routing")
                .env("COORDINATOR_CONFIG_FILE", &config)
                .env("GRAPH_API_BASE_URL", "http://127.0.0.1:9")
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            let started = Instant::now();
            let mut child = command.spawn()?;
            let asked = tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await;
            let _ = child.kill().await;
            match asked {
                Ok(Some(at)) => samples[i].push(at.duration_since(started).as_secs_f64() * 1e3),
                _ => return Err(format!("{name} did not ask for an invocation in 10 s").into()),
            }
        }
    }
    let baseline = median(&mut samples[0].clone());
    println!(
        "init (process start -> first GET /runtime/invocation/next), median of {runs}, {}",
        dir.display()
    );
    for (name, values) in names.iter().zip(samples.iter_mut()) {
        let mid = median(values);
        let (min, max) = (values[0], values[values.len() - 1]);
        println!(
            "  {name:<16} {mid:6.2} ms  (min {min:.2}, max {max:.2})  {:.2}x {BASELINE}",
            mid / baseline
        );
    }
    Ok(())
}
