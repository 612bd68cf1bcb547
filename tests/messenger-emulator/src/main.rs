//! `messenger-emulator --config FILE --listen 127.0.0.1:8700`

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use messenger_emulator::{Emulator, EmulatorConfig};
use tracing_subscriber::EnvFilter;

/// A local emulator of Meta's Messenger Platform: Graph API thread control, Send API and
/// signed webhooks, with a control API under /_emulator/.
#[derive(Debug, Parser)]
#[command(name = "messenger-emulator", version, about)]
struct Args {
    /// The JSON configuration file (pages, apps, tokens, secrets, webhook URLs).
    #[arg(long, env = "MESSENGER_EMULATOR_CONFIG")]
    config: PathBuf,
    /// The address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "MESSENGER_EMULATOR_LISTEN",
        default_value = "127.0.0.1:8700"
    )]
    listen: SocketAddr,
    /// Log as JSON lines instead of text (logs go to stderr; filter with RUST_LOG).
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let config = match EmulatorConfig::from_file(&args.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("messenger-emulator: {err}");
            return ExitCode::from(2);
        }
    };
    let running = match Emulator::start(config, args.listen).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("messenger-emulator: {err}");
            return ExitCode::from(1);
        }
    };
    // The base URL alone on the first stdout line, for scripts.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", running.base_url());
    let _ = stdout.flush();
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("messenger-emulator: {err}");
            ExitCode::from(1)
        }
    }
}
