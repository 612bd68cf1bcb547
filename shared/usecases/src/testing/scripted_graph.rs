//! A scripted `GraphApi`: answers queued by the test (success by default), every call
//! recorded, so the services' rules can be tested without a network.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::config::Secret;
use crate::ports::{GraphApi, GraphError, OutgoingMessage, SentMessage, ThreadOwner};

/// One call the service made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphCall {
    /// `pass_thread_control`, `take_thread_control`, ..., `thread_owner`, `messages`.
    pub edge: &'static str,
    pub page_id: String,
    pub psid: String,
    /// The pass target, or the message text.
    pub detail: Option<String>,
    /// The `metadata` the call carried (thread control and messages).
    pub metadata: Option<String>,
}

/// An answer for the next call.
#[derive(Clone, Debug)]
pub enum ScriptedAnswer {
    /// Success (for `thread_owner`: the thread is idle).
    Ok,
    /// `thread_owner`'s answer.
    Owner(Option<ThreadOwner>),
    /// An error.
    Fail(GraphError),
}

/// Queued answers, recorded calls.
#[derive(Debug, Default)]
pub struct ScriptedGraph {
    answers: Mutex<VecDeque<ScriptedAnswer>>,
    calls: Mutex<Vec<GraphCall>>,
    /// Every call about these Pages fails so (queued answers are for the other Pages).
    page_failures: Mutex<HashMap<String, GraphError>>,
}

impl ScriptedGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The answer to the next call (calls with nothing queued succeed).
    pub fn answer(&self, answer: ScriptedAnswer) -> &Self {
        if let Ok(mut answers) = self.answers.lock() {
            answers.push_back(answer);
        }
        self
    }

    /// Every call about `page_id` fails with `error` from now on.
    pub fn fail_page(&self, page_id: &str, error: GraphError) -> &Self {
        if let Ok(mut failures) = self.page_failures.lock() {
            failures.insert(page_id.to_string(), error);
        }
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<GraphCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn next(
        &self,
        edge: &'static str,
        page_id: &str,
        psid: &str,
        detail: Option<String>,
        metadata: Option<&str>,
    ) -> ScriptedAnswer {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(GraphCall {
                edge,
                page_id: page_id.to_string(),
                psid: psid.to_string(),
                detail,
                metadata: metadata.map(str::to_string),
            });
        }
        let failure = self
            .page_failures
            .lock()
            .ok()
            .and_then(|f| f.get(page_id).cloned());
        if let Some(error) = failure {
            return ScriptedAnswer::Fail(error);
        }
        let queued = self.answers.lock().ok().and_then(|mut a| a.pop_front());
        queued.unwrap_or(ScriptedAnswer::Ok)
    }

    fn done(
        &self,
        edge: &'static str,
        page_id: &str,
        psid: &str,
        detail: Option<String>,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        match self.next(edge, page_id, psid, detail, metadata) {
            ScriptedAnswer::Fail(err) => Err(err),
            ScriptedAnswer::Ok | ScriptedAnswer::Owner(_) => Ok(()),
        }
    }
}

#[async_trait]
impl GraphApi for ScriptedGraph {
    async fn pass_thread_control(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
        target_app_id: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        self.done(
            "pass_thread_control",
            page_id,
            psid,
            Some(target_app_id.to_string()),
            metadata,
        )
    }

    async fn take_thread_control(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        self.done("take_thread_control", page_id, psid, None, metadata)
    }

    async fn request_thread_control(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        self.done("request_thread_control", page_id, psid, None, metadata)
    }

    async fn release_thread_control(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphError> {
        self.done("release_thread_control", page_id, psid, None, metadata)
    }

    async fn extend_thread_control(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
        duration_secs: u64,
    ) -> Result<(), GraphError> {
        self.done(
            "extend_thread_control",
            page_id,
            psid,
            Some(duration_secs.to_string()),
            None,
        )
    }

    async fn thread_owner(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<ThreadOwner>, GraphError> {
        match self.next("thread_owner", page_id, psid, None, None) {
            ScriptedAnswer::Fail(err) => Err(err),
            ScriptedAnswer::Owner(owner) => Ok(owner),
            ScriptedAnswer::Ok => Ok(None),
        }
    }

    async fn send_message(
        &self,
        _token: &Secret,
        page_id: &str,
        psid: &str,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, GraphError> {
        let n = self.calls.lock().map_or(0, |calls| calls.len());
        let metadata = message.metadata.as_deref();
        self.done(
            "messages",
            page_id,
            psid,
            Some(message.text.clone()),
            metadata,
        )?;
        Ok(SentMessage {
            message_id: format!("m_scripted_{n}"),
            recipient_id: Some(psid.to_string()),
        })
    }
}
