//! Webhook delivery: one ordered background queue per subscribed app, retries with backoff,
//! and a record of every attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::DeliveryConfig;

/// One webhook POST to make (possibly several times).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub delivery_id: u64,
    pub page_id: String,
    pub app_id: String,
    pub psid: String,
    pub url: String,
    pub channel: &'static str,
    pub kind: &'static str,
    pub body: Bytes,
    pub signature: String,
    pub drop_first: bool,
    /// Every attempt is lost: Meta gives up on this delivery for good.
    pub drop_every: bool,
    pub duplicate: bool,
}

/// One recorded delivery attempt, as returned by `GET /_emulator/webhooks`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// Position of this attempt among all attempts (1-based, increasing).
    pub seq: u64,
    /// The logical delivery this attempt belongs to (retries share it).
    pub delivery_id: u64,
    /// 1 for the first attempt of a delivery.
    pub attempt: u32,
    /// The Page.
    pub page_id: String,
    /// The receiving app.
    pub app_id: String,
    /// The customer's PSID the event is about.
    pub psid: String,
    /// `messaging` or `standby`.
    pub channel: &'static str,
    /// `message`, `echo`, `postback`, `read`, `pass_thread_control`,
    /// `take_thread_control` or `request_thread_control`.
    pub kind: &'static str,
    /// The webhook URL.
    pub url: String,
    /// The exact body bytes sent (always ASCII).
    pub body: String,
    /// The same body parsed, for convenience.
    pub payload: Value,
    /// The `X-Hub-Signature-256` header value.
    pub signature: String,
    /// The receiver's HTTP status, or null when no answer was received.
    pub status: Option<u16>,
    /// Why the attempt failed without a status (connection error, timeout, injected drop).
    pub error: Option<String>,
    /// `delivered` (2xx), `failed` (other status or error) or `dropped` (fault injection).
    pub outcome: &'static str,
    /// True for the extra copy made by the `duplicate` fault.
    pub duplicate: bool,
    /// When the attempt finished, emulator clock, epoch ms.
    pub at_ms: i64,
}

/// State shared by the delivery workers.
pub(crate) struct DeliveryCore {
    log: Mutex<Vec<DeliveryRecord>>,
    pending: watch::Sender<usize>,
    http: reqwest::Client,
    config: DeliveryConfig,
    clock: Arc<Clock>,
}

impl DeliveryCore {
    fn record(&self, job: &Job, attempt: u32, status: Option<u16>, error: Option<String>) {
        let outcome = match (status, &error) {
            (Some(code), _) if (200..300).contains(&code) => "delivered",
            (None, Some(_)) if job.drop_every || (job.drop_first && attempt == 1) => "dropped",
            _ => "failed",
        };
        let body = String::from_utf8_lossy(&job.body).into_owned();
        let payload = serde_json::from_slice(&job.body).unwrap_or(Value::Null);
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = log.len() as u64 + 1;
        log.push(DeliveryRecord {
            seq,
            delivery_id: job.delivery_id,
            attempt,
            page_id: job.page_id.clone(),
            app_id: job.app_id.clone(),
            psid: job.psid.clone(),
            channel: job.channel,
            kind: job.kind,
            url: job.url.clone(),
            body,
            payload,
            signature: job.signature.clone(),
            status,
            error,
            outcome,
            duplicate: job.duplicate,
            at_ms: self.clock.now_ms(),
        });
    }

    async fn run(&self, job: &Job) {
        let max = self.config.max_attempts.max(1);
        for attempt in 1..=max {
            if job.drop_every {
                let reason = "dropped by fault injection (every attempt: Meta gives up)";
                self.record(job, attempt, None, Some(reason.to_owned()));
            } else if job.drop_first && attempt == 1 {
                self.record(
                    job,
                    attempt,
                    None,
                    Some("dropped by fault injection".to_owned()),
                );
            } else {
                let sent = self
                    .http
                    .post(&job.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::USER_AGENT, "facebookexternalua")
                    .header("X-Hub-Signature-256", &job.signature)
                    .body(job.body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) => {
                        let status = response.status();
                        // Drain the answer so the connection can be reused.
                        let _ = response.bytes().await;
                        self.record(job, attempt, Some(status.as_u16()), None);
                        tracing::debug!(
                            app_id = %job.app_id,
                            kind = job.kind,
                            attempt,
                            status = status.as_u16(),
                            "webhook delivered"
                        );
                        if status.is_success() {
                            return;
                        }
                    }
                    Err(err) => {
                        let reason = if err.is_timeout() {
                            "timeout".to_owned()
                        } else if err.is_connect() {
                            "connection failed".to_owned()
                        } else {
                            "request failed".to_owned()
                        };
                        tracing::warn!(app_id = %job.app_id, kind = job.kind, attempt, %reason, "webhook attempt failed");
                        self.record(job, attempt, None, Some(reason));
                    }
                }
            }
            if attempt < max {
                let factor = 1u64 << (attempt - 1).min(16);
                let backoff = self.config.backoff_ms.saturating_mul(factor);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
        tracing::warn!(app_id = %job.app_id, kind = job.kind, "webhook delivery gave up");
    }

    fn done(&self) {
        self.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Routes jobs to per-app queues and tracks how many deliveries are unfinished.
pub(crate) struct Dispatcher {
    queues: HashMap<(String, String), mpsc::UnboundedSender<Job>>,
    core: Arc<DeliveryCore>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Dispatcher {
    /// Starts one worker per (page, app) that has a webhook URL. Must run inside a Tokio
    /// runtime.
    pub(crate) fn start(
        subscribers: Vec<(String, String)>,
        config: DeliveryConfig,
        clock: Arc<Clock>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        let (pending, _) = watch::channel(0usize);
        let core = Arc::new(DeliveryCore {
            log: Mutex::new(Vec::new()),
            pending,
            http,
            config,
            clock,
        });
        let mut queues = HashMap::new();
        let mut workers = Vec::new();
        for key in subscribers {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let worker_core = Arc::clone(&core);
            workers.push(tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    worker_core.run(&job).await;
                    worker_core.done();
                }
            }));
            queues.insert(key, tx);
        }
        Ok(Self {
            queues,
            core,
            workers: Mutex::new(workers),
        })
    }

    /// Counts a new job as pending (call before holding or sending it).
    pub(crate) fn add_pending(&self) {
        self.core.pending.send_modify(|n| *n += 1);
    }

    /// Queues a job already counted as pending.
    pub(crate) fn send(&self, job: Job) {
        let key = (job.page_id.clone(), job.app_id.clone());
        match self.queues.get(&key) {
            Some(queue) => {
                if queue.send(job).is_err() {
                    self.core.done();
                }
            }
            None => self.core.done(),
        }
    }

    /// Queues jobs already counted as pending, in order.
    pub(crate) fn send_all(&self, jobs: Vec<Job>) {
        for job in jobs {
            self.send(job);
        }
    }

    /// Deliveries queued, held or in flight.
    pub(crate) fn pending(&self) -> usize {
        *self.core.pending.borrow()
    }

    /// Resolves once no delivery is queued or in flight.
    pub(crate) async fn wait_idle(&self) {
        let mut rx = self.core.pending.subscribe();
        // The sender lives as long as `self`, so this only ends when the count is zero.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Every attempt so far.
    pub(crate) fn records(&self) -> Vec<DeliveryRecord> {
        self.core
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the attempt log.
    pub(crate) fn clear_records(&self) {
        self.core
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Stops every worker.
    pub(crate) fn abort(&self) {
        for worker in self
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            worker.abort();
        }
    }
}
