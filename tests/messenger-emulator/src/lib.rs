//! A local emulator of the parts of Meta's Messenger Platform that a conversation-routing
//! coordinator talks to: Graph API thread control (`pass`/`take`/`request`/`release`/
//! `extend_thread_control`, `thread_owner`), the Send API, and signed webhook delivery
//! (`messaging` to the owner, `standby` to the others, echoes and handover events), with a
//! control API under `/_emulator/` to play the customer and Meta's inbox, move the clock,
//! inspect state and inject faults.
//!
//! ```no_run
//! # async fn demo() -> Result<(), messenger_emulator::EmulatorError> {
//! use messenger_emulator::{Emulator, EmulatorConfig};
//! let config = EmulatorConfig::from_file("emulator.json")?;
//! let running = Emulator::start(config, "127.0.0.1:0".parse().expect("address")).await?;
//! println!("Graph API base: {}", running.base_url());
//! running.shutdown().await?;
//! # Ok(()) }
//! ```

mod chat;
mod clock;
mod config;
mod control;
mod delivery;
mod faults;
mod graph;
mod meta_json;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{AppConfig, ConfigError, DeliveryConfig, EmulatorConfig, PageButton, PageConfig};
pub use control::ControlError;
pub use delivery::DeliveryRecord;
pub use faults::{GraphErrorFault, LatencyFault, GRAPH_ENDPOINTS};
pub use graph::GraphError;
pub use meta_json::{signature_256, to_meta_json, MetaFormatter};
pub use state::SentMessage;

/// Meta's Page Inbox app id: connected to every Page, no token, no webhook.
pub const PAGE_INBOX_APP_ID: &str = "263902037430900";

/// Errors starting or stopping the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The webhook HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Server(std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("HTTP server task ended abnormally: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// Webhook deliveries were still pending when `settle` gave up.
    #[error("{0} webhook deliveries still pending")]
    NotSettled(usize),
}

/// Entry point: see [`Emulator::start`].
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

impl Emulator {
    /// Validates `config`, binds `bind_addr` (use port 0 for any free port) and serves the
    /// Graph API and the control API in the background of the current Tokio runtime.
    pub async fn start(
        config: EmulatorConfig,
        bind_addr: SocketAddr,
    ) -> Result<RunningEmulator, EmulatorError> {
        config.validate()?;
        let bind_error = |source| EmulatorError::Bind {
            addr: bind_addr,
            source,
        };
        let listener = tokio::net::TcpListener::bind(bind_addr)
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let graph_version = config.graph_version.clone();
        let shared = Arc::new(state::Shared::new(config)?);
        let app = router(Arc::clone(&shared));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
        });
        let base_url = format!("http://{local_addr}");
        tracing::info!(%base_url, %graph_version, "messenger emulator listening");
        Ok(RunningEmulator {
            base_url,
            local_addr,
            graph_version,
            shared,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }
}

fn router(shared: Arc<state::Shared>) -> Router {
    control::routes()
        .merge(chat::routes())
        .route(
            "/{version}/{node}/{edge}",
            get(graph::graph_handler).post(graph::graph_handler),
        )
        .with_state(shared)
}

/// A running emulator. Dropping it stops the server and the delivery workers.
pub struct RunningEmulator {
    base_url: String,
    local_addr: SocketAddr,
    graph_version: String,
    shared: Arc<state::Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`: use it as the Graph API base URL (`GRAPH_API_BASE_URL`) and
    /// for the control API (`{base_url}/_emulator/...`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `{base_url}/{graph_version}`, e.g. `http://127.0.0.1:PORT/v23.0`.
    pub fn graph_url(&self) -> String {
        format!("{}/{}", self.base_url, self.graph_version)
    }

    /// The emulator clock, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.shared.now()
    }

    /// Moves the emulator clock forward.
    pub fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.shared.clock.advance_ms(ms);
    }

    /// Releases held deliveries and waits until every queued webhook delivery has been
    /// attempted to the end (same as `POST /_emulator/settle`).
    pub async fn settle(&self, timeout: Duration) -> Result<(), EmulatorError> {
        self.shared
            .settle(timeout)
            .await
            .map_err(EmulatorError::NotSettled)
    }

    /// Every webhook delivery attempt so far.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.dispatcher.records()
    }

    /// Waits until the server stops (it only stops through [`RunningEmulator::shutdown`]
    /// or a server error).
    pub async fn wait(mut self) -> Result<(), EmulatorError> {
        let result = match self.server.take() {
            Some(server) => server.await?.map_err(EmulatorError::Server),
            None => Ok(()),
        };
        self.shared.dispatcher.abort();
        result
    }

    /// Stops accepting requests, finishes open ones, and stops the delivery workers
    /// (undelivered webhooks are abandoned; call [`RunningEmulator::settle`] first to
    /// deliver them).
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.shared.dispatcher.abort();
    }
}
