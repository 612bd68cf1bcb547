//! The reqwest implementation of the Graph API port.

use async_trait::async_trait;
use serde::Serialize;

use super::answers::{
    chain, interpret_answer, log_fields, parse_sent_message, parse_thread_owner, transport_error,
};
use super::retry::{FailedAttempt, Repeat, RetryPolicy};
use super::wire::{ExtendBody, PassBody, Recipient, RecipientBody, SendBody};
use crate::settings::GraphSettings;
use routing_usecases::config::Secret;
use routing_usecases::ports::{GraphApi, GraphError, OutgoingMessage, SentMessage, ThreadOwner};

/// The Graph API version used unless `GRAPH_API_VERSION` says otherwise.
/// Kept here only: the template's `GraphApiVersion` defaults to blank (this one), and the
/// local stack and the tests configure the emulator with it. Meta serves v25.0 until
/// 29 July 2028 (developers.facebook.com/docs/graph-api/changelog).
pub const DEFAULT_GRAPH_API_VERSION: &str = "v25.0";
pub const DEFAULT_GRAPH_API_BASE_URL: &str = "https://graph.facebook.com";

/// The reqwest implementation of [`GraphApi`].
///
/// One `reqwest::Client` (rustls on ring: `crate::tls`) per `GraphClient`; build it once per container and
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
        let tls = crate::tls::graph_client_config()
            .map_err(|err| GraphError::local(0, format!("cannot configure TLS: {err}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
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
    /// A client for the settings' base URL (default [`DEFAULT_GRAPH_API_BASE_URL`]) and
    /// version (default [`DEFAULT_GRAPH_API_VERSION`]); unset or blank values take the
    /// defaults.
    pub fn from_settings(
        settings: &GraphSettings,
        policy: RetryPolicy,
    ) -> Result<Self, GraphError> {
        let base_url = settings
            .base_url
            .as_deref()
            .filter(|v| !v.trim().is_empty());
        let version = settings.version.as_deref().filter(|v| !v.trim().is_empty());
        Self::new(
            base_url.unwrap_or(DEFAULT_GRAPH_API_BASE_URL),
            version.unwrap_or(DEFAULT_GRAPH_API_VERSION),
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

    /// One Graph call with retries (see [`RetryPolicy`]); the JSON of a successful answer.
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
        let repeat = if method == reqwest::Method::GET {
            Repeat::Always
        } else {
            Repeat::OnlyUnsent
        };
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.attempt(method.clone(), &url, token, body).await {
                Ok(value) => {
                    tracing::debug!(edge, page_id, attempt, "Graph API call succeeded");
                    return Ok(value);
                }
                Err(failed) if failed.may_retry(repeat) && attempt < max_attempts => {
                    let delay = self.policy.jittered_backoff(attempt);
                    log_retry(edge, page_id, attempt, max_attempts, &failed.error, delay);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(failed) => {
                    let err = failed.into_error(repeat);
                    log_failure(edge, page_id, attempt, &err);
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
    ) -> Result<serde_json::Value, FailedAttempt> {
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let answered = |error| FailedAttempt {
            error,
            may_have_reached_meta: true,
        };
        let response = request.send().await.map_err(|err| FailedAttempt {
            // Only a connection that was never made proves the request did not reach Meta.
            may_have_reached_meta: !err.is_connect() && !err.is_builder(),
            error: transport_error(err),
        })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| answered(transport_error(err)))?;
        interpret_answer(status, &bytes).map_err(answered)
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

fn log_retry(
    edge: &str,
    page_id: &str,
    attempt: u32,
    max_attempts: u32,
    err: &GraphError,
    delay: std::time::Duration,
) {
    let (status, code, subcode) = log_fields(err);
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
}

fn log_failure(edge: &str, page_id: &str, attempt: u32, err: &GraphError) {
    let (status, code, subcode) = log_fields(err);
    let kind = err.kind();
    if err.is_transient() || matches!(err, GraphError::OutcomeUnknown(_)) {
        tracing::warn!(
            edge,
            page_id,
            attempt,
            error_kind = kind,
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
            error_kind = kind,
            status,
            code,
            subcode,
            "Graph API call refused"
        );
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
        let settings = |base_url: Option<&str>, version: Option<&str>| GraphSettings {
            base_url: base_url.map(str::to_string),
            version: version.map(str::to_string),
        };
        let defaults =
            GraphClient::from_settings(&settings(None, Some(" ")), RetryPolicy::default()).unwrap();
        assert_eq!(
            defaults.graph_url(),
            format!("{DEFAULT_GRAPH_API_BASE_URL}/{DEFAULT_GRAPH_API_VERSION}")
        );
        let custom = GraphClient::from_settings(
            &settings(Some("http://127.0.0.1:8700/"), Some("v22.0")),
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(custom.graph_url(), "http://127.0.0.1:8700/v22.0");
    }

    #[test]
    fn the_default_version_is_a_current_one() {
        // Meta's changelog (developers.facebook.com/docs/graph-api/changelog): v25.0 was
        // released on 18 February 2026 and is served until 29 July 2028.
        let major: u32 = DEFAULT_GRAPH_API_VERSION
            .strip_prefix('v')
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .expect("vNN.N");
        assert!(major >= 25, "{DEFAULT_GRAPH_API_VERSION} is not current");
    }
}
