//! The Graph API, behind the [`GraphApi`] trait: thread control (pass, take, request,
//! release, extend, thread_owner) and the Send API. [`GraphClient`] is the reqwest
//! implementation: base URL and version from configuration, explicit connect and total
//! timeouts, retries with backoff and jitter for transient errors only, and Meta's error
//! bodies mapped to typed errors by code and subcode.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::domain::EpochSeconds;

/// The Graph API version used unless `GRAPH_API_VERSION` says otherwise.
pub const DEFAULT_GRAPH_API_VERSION: &str = "v23.0";
pub const DEFAULT_GRAPH_API_BASE_URL: &str = "https://graph.facebook.com";

/// Who holds a thread according to Meta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadOwner {
    pub app_id: String,
    /// When Meta's control expires (epoch seconds), when Meta says.
    pub expires_at: Option<EpochSeconds>,
}

/// How a message is sent (Send API `messaging_type` and `tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagingType {
    /// Within 24 h of the customer's last message.
    Response,
    /// `MESSAGE_TAG` with `HUMAN_AGENT`: a human, up to 7 days after the last message.
    HumanAgent,
}

/// What to do with control in the same Send API call (conversation routing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadControl {
    Pass { app_id: String },
    Release,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub text: String,
    pub messaging_type: MessagingType,
    pub metadata: Option<String>,
    pub thread_control: Option<ThreadControl>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub message_id: String,
    pub recipient_id: Option<String>,
}

/// Meta's answer, typed by code and subcode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 100/2534037 (thread control) or 10/2018300 (Send API): another app controls it.
    #[error("another app controls this thread ({code}/{subcode})")]
    NotOwner { code: i64, subcode: i64 },
    /// 2018171: the app has no role on the Page.
    #[error("the app has no role in this Page's conversation routing")]
    NoRole,
    /// 100/2018234: a secondary receiver may not see another secondary's ownership.
    #[error("this app may not see the thread's owner")]
    OwnerHidden,
    /// 100/2018164: incorrect app id.
    #[error("incorrect app id")]
    WrongAppId,
    /// 10/2018278, 10/2534022: outside the allowed messaging window.
    #[error("outside the allowed messaging window")]
    WindowClosed,
    /// 190: the access token is invalid or expired.
    #[error("the access token is invalid or expired")]
    TokenInvalid,
    /// 4, 17, 32, 613 (after the retries ran out).
    #[error("rate limited by the Graph API (code {code})")]
    RateLimited { code: i64 },
    /// 551/1545041, 200/1545041.
    #[error("this person isn't available right now")]
    PersonUnavailable,
    /// 2018321: Messenger's automated flow controls the thread; try later.
    #[error("Messenger's automated flow controls this thread")]
    AutomatedFlowInControl,
    /// Any other error Meta answered (permanent).
    #[error("Graph API error {code}/{subcode:?}: {message}")]
    Other {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    /// 5xx, timeouts, connection failures (after the retries ran out).
    #[error("Graph API unavailable: {0}")]
    Unavailable(String),
}

impl GraphError {
    /// Map Meta's error body fields to a typed error.
    pub fn from_meta(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Self {
        match (code, subcode) {
            (_, Some(2_534_037)) | (_, Some(2_018_300)) => GraphError::NotOwner {
                code,
                subcode: subcode.unwrap_or_default(),
            },
            (_, Some(2_018_171)) | (2_018_171, _) => GraphError::NoRole,
            (_, Some(2_018_234)) => GraphError::OwnerHidden,
            (_, Some(2_018_164)) => GraphError::WrongAppId,
            (_, Some(2_018_278)) | (_, Some(2_534_022)) => GraphError::WindowClosed,
            (190, _) => GraphError::TokenInvalid,
            (4 | 17 | 32 | 613, _) => GraphError::RateLimited { code },
            (_, Some(1_545_041)) => GraphError::PersonUnavailable,
            (_, Some(2_018_321)) | (2_018_321, _) => GraphError::AutomatedFlowInControl,
            _ if status >= 500 => GraphError::Unavailable(format!("{status}: {message}")),
            _ => GraphError::Other {
                status,
                code,
                subcode,
                message: message.to_string(),
            },
        }
    }

    /// Worth retrying: 5xx, timeouts, connection failures, rate limits.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GraphError::Unavailable(_) | GraphError::RateLimited { .. }
        )
    }
}

/// Scheduled runs (the sweep, the re-sync batch) stop after this many Graph calls in a row
/// found the API unavailable (5xx, timeouts, after the client's own retries): the rest
/// waits for the next run instead of spending this one on an outage.
pub const MAX_OUTAGES_IN_A_ROW: u32 = 3;

/// A scheduled run's streak of Graph answers "unavailable" (shared by its concurrent
/// calls): once it reaches [`MAX_OUTAGES_IN_A_ROW`] the API counts as down for the run.
#[derive(Debug, Default)]
pub struct OutageStreak {
    in_a_row: AtomicU32,
    down: AtomicBool,
}

impl OutageStreak {
    /// One more call found the API unavailable.
    pub fn unavailable(&self) {
        if self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_OUTAGES_IN_A_ROW {
            self.down.store(true, Ordering::Relaxed);
        }
    }

    /// A call got through: the streak ends.
    pub fn answered(&self) {
        self.in_a_row.store(0, Ordering::Relaxed);
    }

    /// [`MAX_OUTAGES_IN_A_ROW`] calls in a row found the API unavailable: stop the run.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// The Graph API calls the coordinator makes, each with the acting app's Page token.
#[async_trait]
pub trait GraphApi: Send + Sync {
    async fn pass_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        target_app_id: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn take_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn request_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn release_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError>;

    async fn extend_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        duration_secs: u64,
    ) -> Result<(), GraphError>;

    /// `None` when the thread is idle.
    async fn thread_owner(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<ThreadOwner>, GraphError>;

    async fn send_message(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, GraphError>;
}

impl GraphError {
    /// A short, stable name of the error kind, for logs and metrics (never carries text).
    pub fn kind(&self) -> &'static str {
        match self {
            GraphError::NotOwner { .. } => "not_owner",
            GraphError::NoRole => "no_role",
            GraphError::OwnerHidden => "owner_hidden",
            GraphError::WrongAppId => "wrong_app_id",
            GraphError::WindowClosed => "window_closed",
            GraphError::TokenInvalid => "token_invalid",
            GraphError::RateLimited { .. } => "rate_limited",
            GraphError::PersonUnavailable => "person_unavailable",
            GraphError::AutomatedFlowInControl => "automated_flow_in_control",
            GraphError::Other { .. } => "other",
            GraphError::Unavailable(_) => "unavailable",
        }
    }

    /// A permanent error raised on our side (bad configuration or input, unexpected
    /// answer): `Other` with status 0 when no HTTP answer is involved.
    fn local(status: u16, message: impl Into<String>) -> Self {
        GraphError::Other {
            status,
            code: 0,
            subcode: None,
            message: message.into(),
        }
    }
}

/// Timeouts and retries of [`GraphClient`].
///
/// Only transient errors ([`GraphError::is_transient`]) are retried, at most
/// `max_attempts` calls in all, waiting `base_delay * 2^(n-1)` (capped at `max_delay`)
/// with jitter (between half and all of it) before retry `n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included (0 is treated as 1).
    pub max_attempts: u32,
    /// The wait before the first retry (before jitter).
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Connect timeout of each attempt.
    pub connect_timeout: Duration,
    /// Total timeout of each attempt (connect, send, whole answer).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The default attempts and timeouts with millisecond waits between attempts (tests).
    pub fn fast() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    /// The same policy with another number of attempts.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The same policy with other per-attempt timeouts.
    pub fn with_timeouts(mut self, connect_timeout: Duration, request_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self.request_timeout = request_timeout;
        self
    }

    /// The wait before retry `retry` (1 = the second attempt), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1_u32 << exponent)
            .min(self.max_delay)
    }

    /// [`RetryPolicy::backoff`] with jitter: uniformly between half of it and all of it.
    fn jittered_backoff(&self, retry: u32) -> Duration {
        let full = self.backoff(retry);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        if spread == 0 {
            return full;
        }
        half + Duration::from_nanos(random_u64() % spread.saturating_add(1))
    }
}

/// A pseudo-random number for jitter (std's randomly keyed SipHash over a counter: no
/// extra dependency, good enough to spread retries).
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The reqwest implementation of [`GraphApi`].
///
/// One `reqwest::Client` (rustls) per `GraphClient`; build it once per container and
/// clone it freely (clones share the connection pool). Calls go to
/// `{base}/{version}/{page_id}/{edge}` with the Page token in an
/// `Authorization: Bearer` header, never in the URL and never in a log line.
#[derive(Clone, Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    base: reqwest::Url,
    version: String,
    policy: RetryPolicy,
}

impl GraphClient {
    /// A client for `base_url` (e.g. `https://graph.facebook.com`, with or without a
    /// trailing `/`) and `version` (`v23.0`; `23.0` is read as `v23.0`).
    ///
    /// An invalid base URL or version is a [`GraphError::Other`] with status 0.
    pub fn new(base_url: &str, version: &str, policy: RetryPolicy) -> Result<Self, GraphError> {
        let mut base = reqwest::Url::parse(base_url.trim())
            .map_err(|err| GraphError::local(0, format!("invalid Graph API base URL: {err}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(GraphError::local(
                0,
                "invalid Graph API base URL: it must be an http or https URL",
            ));
        }
        base.set_query(None);
        base.set_fragment(None);
        let version = normalise_version(version)?;
        let http = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .build()
            .map_err(|err| {
                GraphError::local(0, format!("cannot build the HTTP client: {}", chain(&err)))
            })?;
        Ok(GraphClient {
            http,
            base,
            version,
            policy,
        })
    }

    /// A client configured from `GRAPH_API_BASE_URL` (default
    /// [`DEFAULT_GRAPH_API_BASE_URL`]) and `GRAPH_API_VERSION` (default
    /// [`DEFAULT_GRAPH_API_VERSION`]) with the default [`RetryPolicy`].
    pub fn from_env() -> Result<Self, GraphError> {
        Self::from_env_with_policy(RetryPolicy::default())
    }

    /// [`GraphClient::from_env`] with another retry policy.
    pub fn from_env_with_policy(policy: RetryPolicy) -> Result<Self, GraphError> {
        Self::from_vars(
            std::env::var("GRAPH_API_BASE_URL").ok(),
            std::env::var("GRAPH_API_VERSION").ok(),
            policy,
        )
    }

    /// Unset or blank values take the defaults.
    fn from_vars(
        base_url: Option<String>,
        version: Option<String>,
        policy: RetryPolicy,
    ) -> Result<Self, GraphError> {
        let base_url = base_url.filter(|v| !v.trim().is_empty());
        let version = version.filter(|v| !v.trim().is_empty());
        Self::new(
            base_url.as_deref().unwrap_or(DEFAULT_GRAPH_API_BASE_URL),
            version.as_deref().unwrap_or(DEFAULT_GRAPH_API_VERSION),
            policy,
        )
    }

    /// `{base}/{version}`, e.g. `https://graph.facebook.com/v23.0`.
    pub fn graph_url(&self) -> String {
        format!(
            "{}/{}",
            self.base.as_str().trim_end_matches('/'),
            self.version
        )
    }

    /// The Graph API version the client calls, e.g. `v23.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// `{base}/{version}/{page_id}/{edge}`, each segment percent-encoded.
    fn edge_url(&self, page_id: &str, edge: &str) -> Result<reqwest::Url, GraphError> {
        if page_id.trim().is_empty() {
            return Err(GraphError::local(0, "the Page id is empty"));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::local(0, "invalid Graph API base URL"))?
            .pop_if_empty()
            .push(&self.version)
            .push(page_id)
            .push(edge);
        Ok(url)
    }

    /// One Graph call with retries; the JSON of a successful answer.
    async fn call<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        edge: &'static str,
        token: &Secret,
        page_id: &str,
        psid: &str,
        body: Option<&B>,
    ) -> Result<serde_json::Value, GraphError> {
        if psid.trim().is_empty() {
            return Err(GraphError::local(0, "the recipient PSID is empty"));
        }
        let mut url = self.edge_url(page_id, edge)?;
        if body.is_none() {
            url.query_pairs_mut().append_pair("recipient", psid);
        }
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = self.attempt(method.clone(), &url, token, body).await;
            match result {
                Ok(value) => {
                    tracing::debug!(edge, page_id, attempt, "Graph API call succeeded");
                    return Ok(value);
                }
                Err(err) if err.is_transient() && attempt < max_attempts => {
                    let delay = self.policy.jittered_backoff(attempt);
                    let (status, code, subcode) = log_fields(&err);
                    tracing::warn!(
                        edge,
                        page_id,
                        attempt,
                        max_attempts,
                        error_kind = err.kind(),
                        status,
                        code,
                        subcode,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "transient Graph API error; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(err) => {
                    let (status, code, subcode) = log_fields(&err);
                    if err.is_transient() {
                        tracing::warn!(
                            edge,
                            page_id,
                            attempt,
                            error_kind = err.kind(),
                            status,
                            code,
                            subcode,
                            "Graph API call failed; no attempts left"
                        );
                    } else {
                        tracing::info!(
                            edge,
                            page_id,
                            attempt,
                            error_kind = err.kind(),
                            status,
                            code,
                            subcode,
                            "Graph API call refused"
                        );
                    }
                    return Err(err);
                }
            }
        }
    }

    async fn attempt<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        url: &reqwest::Url,
        token: &Secret,
        body: Option<&B>,
    ) -> Result<serde_json::Value, GraphError> {
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport_error)?;
        interpret_answer(status, &bytes)
    }

    async fn thread_control<B: Serialize + ?Sized>(
        &self,
        edge: &'static str,
        token: &Secret,
        page_id: &str,
        psid: &str,
        body: &B,
    ) -> Result<(), GraphError> {
        self.call(
            reqwest::Method::POST,
            edge,
            token,
            page_id,
            psid,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// A thread-control action whose body is only the recipient and optional metadata
    /// (take, request, release).
    async fn recipient_action(
        &self,
        edge: &'static str,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        let body = RecipientBody {
            recipient: Recipient { id: psid },
            metadata,
        };
        self.thread_control(edge, token, page_id, psid, &body).await
    }
}

fn normalise_version(version: &str) -> Result<String, GraphError> {
    let version = version.trim().trim_matches('/');
    if version.is_empty()
        || version.contains(['/', '?', '#'])
        || version.contains(char::is_whitespace)
    {
        return Err(GraphError::local(
            0,
            format!("invalid Graph API version {version:?}: expected e.g. v23.0"),
        ));
    }
    if version.starts_with(|c: char| c.is_ascii_digit()) {
        Ok(format!("v{version}"))
    } else {
        Ok(version.to_owned())
    }
}

/// `(status, code, subcode)` of an error, for log fields.
fn log_fields(err: &GraphError) -> (Option<u16>, Option<i64>, Option<i64>) {
    match err {
        GraphError::NotOwner { code, subcode } => (None, Some(*code), Some(*subcode)),
        GraphError::RateLimited { code } => (None, Some(*code), None),
        GraphError::Other {
            status,
            code,
            subcode,
            ..
        } => (Some(*status), Some(*code), *subcode),
        _ => (None, None, None),
    }
}

/// An error and its sources, one line (reqwest's own text names no URL after
/// `without_url`, and no token is ever part of a request's URL).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// Timeouts, connection and body failures are `Unavailable` (transient); a request that
/// cannot even be built (e.g. a token that is not a valid header value) is permanent.
fn transport_error(err: reqwest::Error) -> GraphError {
    let err = err.without_url();
    if err.is_builder() {
        return GraphError::local(0, format!("cannot build the request: {}", chain(&err)));
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    GraphError::Unavailable(format!("{what}: {}", chain(&err)))
}

/// An id given as a string or a number.
fn id_string(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer given as a number (also a float with no fraction) or a numeric string.
fn int_value(value: Option<&serde_json::Value>) -> Option<i64> {
    match value? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Meta's `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
fn meta_error(status: u16, body: &serde_json::Value) -> Option<GraphError> {
    let error = body.get("error")?.as_object()?;
    let code = int_value(error.get("code")).unwrap_or(0);
    let subcode = int_value(error.get("error_subcode"));
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    Some(GraphError::from_meta(status, code, subcode, message))
}

/// One HTTP answer: Meta's error body (any status) → typed error; other non-2xx →
/// `Unavailable` (5xx, 429) or `Other`; a 2xx must be JSON and not `"success": false`.
fn interpret_answer(status: u16, body: &[u8]) -> Result<serde_json::Value, GraphError> {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(err) = parsed.as_ref().and_then(|v| meta_error(status, v)) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(if status >= 500 || status == 429 {
            GraphError::Unavailable(format!("HTTP {status} without a Graph error body"))
        } else {
            GraphError::local(status, format!("HTTP {status} without a Graph error body"))
        });
    }
    let Some(value) = parsed else {
        return Err(GraphError::local(
            status,
            "the Graph API answer is not JSON",
        ));
    };
    let refused = match &value {
        serde_json::Value::Bool(ok) => !ok,
        serde_json::Value::Object(object) => {
            matches!(object.get("success"), Some(serde_json::Value::Bool(false)))
        }
        _ => false,
    };
    if refused {
        return Err(GraphError::local(
            status,
            "the Graph API answered \"success\": false",
        ));
    }
    Ok(value)
}

/// Epoch seconds from seconds or milliseconds (anything from 10^11 on is milliseconds:
/// 10^11 s is the year 5138, 10^11 ms is 1973). 0 or less: no expiry.
fn normalise_epoch_seconds(value: i64) -> Option<EpochSeconds> {
    match value {
        v if v <= 0 => None,
        v if v >= 100_000_000_000 => Some(v / 1000),
        v => Some(v),
    }
}

/// `{"data":[{"thread_owner":{"app_id","expiration"?}}]}`, or `{"data":[]}` when idle.
fn parse_thread_owner(body: &serde_json::Value) -> Result<Option<ThreadOwner>, GraphError> {
    let unexpected = || GraphError::local(200, "unexpected thread_owner answer from the Graph API");
    let data = body
        .get("data")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(unexpected)?;
    let Some(first) = data.first() else {
        return Ok(None);
    };
    let owner = match first.get("thread_owner") {
        None => return Err(unexpected()),
        Some(serde_json::Value::Null) => return Ok(None),
        Some(owner) => owner,
    };
    let app_id = id_string(owner.get("app_id")).ok_or_else(unexpected)?;
    let expires_at = int_value(owner.get("expiration")).and_then(normalise_epoch_seconds);
    Ok(Some(ThreadOwner { app_id, expires_at }))
}

/// `{"recipient_id","message_id"}`.
fn parse_sent_message(body: &serde_json::Value) -> Result<SentMessage, GraphError> {
    let message_id = id_string(body.get("message_id"))
        .ok_or_else(|| GraphError::local(200, "the Send API answer has no message_id"))?;
    Ok(SentMessage {
        message_id,
        recipient_id: id_string(body.get("recipient_id")),
    })
}

#[derive(Serialize)]
struct Recipient<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct PassBody<'a> {
    recipient: Recipient<'a>,
    target_app_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a str>,
}

#[derive(Serialize)]
struct RecipientBody<'a> {
    recipient: Recipient<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a str>,
}

#[derive(Serialize)]
struct ExtendBody<'a> {
    recipient: Recipient<'a>,
    duration: u64,
}

#[derive(Serialize)]
struct SendBody<'a> {
    recipient: Recipient<'a>,
    messaging_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'static str>,
    message: SendMessageBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_control: Option<SendThreadControl<'a>>,
}

#[derive(Serialize)]
struct SendMessageBody<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a str>,
}

#[derive(Serialize)]
struct SendThreadControl<'a> {
    control_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
}

impl<'a> SendBody<'a> {
    fn new(psid: &'a str, message: &'a OutgoingMessage) -> Self {
        let (messaging_type, tag) = match message.messaging_type {
            MessagingType::Response => ("RESPONSE", None),
            MessagingType::HumanAgent => ("MESSAGE_TAG", Some("HUMAN_AGENT")),
        };
        let thread_control = message
            .thread_control
            .as_ref()
            .map(|control| match control {
                ThreadControl::Pass { app_id } => SendThreadControl {
                    control_type: "pass",
                    app_id: Some(app_id),
                },
                ThreadControl::Release => SendThreadControl {
                    control_type: "release",
                    app_id: None,
                },
            });
        SendBody {
            recipient: Recipient { id: psid },
            messaging_type,
            tag,
            message: SendMessageBody {
                text: &message.text,
                metadata: message.metadata.as_deref(),
            },
            thread_control,
        }
    }
}

#[async_trait]
impl GraphApi for GraphClient {
    async fn pass_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        target_app_id: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        let body = PassBody {
            recipient: Recipient { id: psid },
            target_app_id,
            metadata,
        };
        self.thread_control("pass_thread_control", token, page_id, psid, &body)
            .await
    }

    async fn take_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        // Success is `{"success":true}` or (older docs) `{"data":[{"thread_owner":..}]}`:
        // any 2xx answer that is not an error and not `"success": false` is accepted.
        self.recipient_action("take_thread_control", token, page_id, psid, metadata)
            .await
    }

    async fn request_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        self.recipient_action("request_thread_control", token, page_id, psid, metadata)
            .await
    }

    async fn release_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        self.recipient_action("release_thread_control", token, page_id, psid, metadata)
            .await
    }

    async fn extend_thread_control(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        duration_secs: u64,
    ) -> Result<(), GraphError> {
        let body = ExtendBody {
            recipient: Recipient { id: psid },
            duration: duration_secs,
        };
        self.thread_control("extend_thread_control", token, page_id, psid, &body)
            .await
    }

    async fn thread_owner(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<ThreadOwner>, GraphError> {
        let body = self
            .call::<()>(
                reqwest::Method::GET,
                "thread_owner",
                token,
                page_id,
                psid,
                None,
            )
            .await?;
        parse_thread_owner(&body)
    }

    async fn send_message(
        &self,
        token: &Secret,
        page_id: &str,
        psid: &str,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, GraphError> {
        let body = SendBody::new(psid, message);
        let answer = self
            .call(
                reqwest::Method::POST,
                "messages",
                token,
                page_id,
                psid,
                Some(&body),
            )
            .await?;
        parse_sent_message(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thread_owner_answers() {
        let owned = json!({"data":[{"thread_owner":{"app_id":"123","expiration":1_700_000_000}}]});
        assert_eq!(
            parse_thread_owner(&owned).unwrap(),
            Some(ThreadOwner {
                app_id: "123".into(),
                expires_at: Some(1_700_000_000)
            })
        );
        let numeric_ms =
            json!({"data":[{"thread_owner":{"app_id":123,"expiration":1_700_000_000_123_i64}}]});
        assert_eq!(
            parse_thread_owner(&numeric_ms).unwrap(),
            Some(ThreadOwner {
                app_id: "123".into(),
                expires_at: Some(1_700_000_000)
            })
        );
        let no_expiry = json!({"data":[{"thread_owner":{"app_id":"263902037430900"}}]});
        assert_eq!(
            parse_thread_owner(&no_expiry).unwrap(),
            Some(ThreadOwner {
                app_id: "263902037430900".into(),
                expires_at: None
            })
        );
        assert_eq!(parse_thread_owner(&json!({"data":[]})).unwrap(), None);
        assert!(matches!(
            parse_thread_owner(&json!({"success":true})),
            Err(GraphError::Other { .. })
        ));
        assert!(matches!(
            parse_thread_owner(&json!({"data":[{"thread_owner":{}}]})),
            Err(GraphError::Other { .. })
        ));
    }

    #[test]
    fn success_answers() {
        assert!(interpret_answer(200, br#"{"success":true}"#).is_ok());
        assert!(interpret_answer(
            200,
            br#"{"data":[{"thread_owner":{"app_id":"1","expiration":1}}]}"#
        )
        .is_ok());
        assert!(matches!(
            interpret_answer(200, br#"{"success":false}"#),
            Err(GraphError::Other { status: 200, .. })
        ));
        assert!(matches!(
            interpret_answer(200, b"false"),
            Err(GraphError::Other { .. })
        ));
        assert!(matches!(
            interpret_answer(200, b"<html>"),
            Err(GraphError::Other { .. })
        ));
    }

    #[test]
    fn error_answers() {
        let not_owner = br#"{"error":{"message":"x","type":"OAuthException","code":100,"error_subcode":2534037,"fbtrace_id":"A"}}"#;
        assert_eq!(
            interpret_answer(400, not_owner),
            Err(GraphError::NotOwner {
                code: 100,
                subcode: 2_534_037
            })
        );
        let string_codes = br#"{"error":{"message":"x","code":"613"}}"#;
        assert_eq!(
            interpret_answer(400, string_codes),
            Err(GraphError::RateLimited { code: 613 })
        );
        assert!(matches!(
            interpret_answer(502, b"Bad Gateway"),
            Err(GraphError::Unavailable(_))
        ));
        assert!(matches!(
            interpret_answer(503, br#"{"error":{"message":"down","code":2}}"#),
            Err(GraphError::Unavailable(_))
        ));
        assert!(matches!(
            interpret_answer(404, b"not found"),
            Err(GraphError::Other { status: 404, .. })
        ));
    }

    #[test]
    fn send_bodies() {
        let message = OutgoingMessage {
            text: "hi".into(),
            messaging_type: MessagingType::HumanAgent,
            metadata: Some("m".into()),
            thread_control: Some(ThreadControl::Pass {
                app_id: "2002".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(SendBody::new("U1", &message)).unwrap(),
            json!({"recipient":{"id":"U1"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT",
                   "message":{"text":"hi","metadata":"m"},
                   "thread_control":{"control_type":"pass","app_id":"2002"}})
        );
        let plain = OutgoingMessage {
            text: "hi".into(),
            messaging_type: MessagingType::Response,
            metadata: None,
            thread_control: Some(ThreadControl::Release),
        };
        assert_eq!(
            serde_json::to_value(SendBody::new("U1", &plain)).unwrap(),
            json!({"recipient":{"id":"U1"},"messaging_type":"RESPONSE",
                   "message":{"text":"hi"},"thread_control":{"control_type":"release"}})
        );
    }

    #[test]
    fn urls_and_configuration() {
        for base in ["http://127.0.0.1:9/", "http://127.0.0.1:9"] {
            let client = GraphClient::new(base, "v23.0", RetryPolicy::fast()).unwrap();
            assert_eq!(client.graph_url(), "http://127.0.0.1:9/v23.0");
            assert_eq!(
                client.edge_url("PAGE1", "thread_owner").unwrap().as_str(),
                "http://127.0.0.1:9/v23.0/PAGE1/thread_owner"
            );
        }
        let prefixed =
            GraphClient::new("http://proxy/graph/", "23.0", RetryPolicy::fast()).unwrap();
        assert_eq!(
            prefixed.edge_url("P/1", "messages").unwrap().as_str(),
            "http://proxy/graph/v23.0/P%2F1/messages"
        );
        assert!(GraphClient::new("not a url", "v23.0", RetryPolicy::fast()).is_err());
        assert!(GraphClient::new("http://x", "", RetryPolicy::fast()).is_err());
        let defaults =
            GraphClient::from_vars(None, Some(" ".into()), RetryPolicy::default()).unwrap();
        assert_eq!(
            defaults.graph_url(),
            format!("{DEFAULT_GRAPH_API_BASE_URL}/{DEFAULT_GRAPH_API_VERSION}")
        );
        let custom = GraphClient::from_vars(
            Some("http://127.0.0.1:8700/".into()),
            Some("v22.0".into()),
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(custom.graph_url(), "http://127.0.0.1:8700/v22.0");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(200));
        assert_eq!(policy.backoff(2), Duration::from_millis(400));
        assert_eq!(policy.backoff(10), Duration::from_secs(2));
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(2));
        for retry in 1..6 {
            let delay = policy.jittered_backoff(retry);
            assert!(delay >= policy.backoff(retry) / 2 && delay <= policy.backoff(retry));
        }
    }

    #[test]
    fn epoch_normalisation() {
        assert_eq!(normalise_epoch_seconds(1_700_000_000), Some(1_700_000_000));
        assert_eq!(
            normalise_epoch_seconds(1_700_000_000_999),
            Some(1_700_000_000)
        );
        assert_eq!(normalise_epoch_seconds(0), None);
    }
}
