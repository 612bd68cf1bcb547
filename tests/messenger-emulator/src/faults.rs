//! Fault injection state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::delivery::Job;
use crate::graph::GraphError;

/// Names accepted as `endpoint` by the Graph fault routes (`*` matches every endpoint).
pub const GRAPH_ENDPOINTS: [&str; 8] = [
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "release_thread_control",
    "extend_thread_control",
    "thread_owner",
    "messages",
    "*",
];

/// Fail the next `remaining` calls of a Graph endpoint with this error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphErrorFault {
    /// Endpoint name (see [`GRAPH_ENDPOINTS`]).
    pub endpoint: String,
    /// Calls still to fail.
    pub remaining: u32,
    /// HTTP status of the error answer.
    pub status: u16,
    /// Graph error `code`.
    pub code: i64,
    /// Graph `error_subcode` (omitted from the answer when null).
    pub error_subcode: Option<i64>,
    /// Graph error `message`.
    pub message: String,
    /// Graph error `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The call is applied first (state changed, webhooks sent) and then answered with
    /// this error, as when Meta processed a request but failed to answer it (a 5xx).
    #[serde(default)]
    pub after_applying: bool,
}

/// Delay calls of a Graph endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyFault {
    /// Endpoint name (see [`GRAPH_ENDPOINTS`]).
    pub endpoint: String,
    /// Delay added before the call is handled.
    pub latency_ms: u64,
    /// Calls still to delay; null = until the faults are reset.
    pub remaining: Option<u32>,
    /// The call is applied first and the answer delayed afterwards, as when Meta processed
    /// a request but answered after the client's timeout.
    #[serde(default)]
    pub after_applying: bool,
}

/// The faults that apply to one Graph call, consumed from the active faults.
#[derive(Debug, Default)]
pub(crate) struct CallFaults {
    /// Delay before the call is handled.
    pub latency_before: Option<Duration>,
    /// Error answered instead of handling the call.
    pub error_before: Option<GraphError>,
    /// Delay after the call was applied, before its answer.
    pub latency_after: Option<Duration>,
    /// Error answered after the call was applied.
    pub error_after: Option<GraphError>,
}

/// All active faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub graph_errors: Vec<GraphErrorFault>,
    pub latencies: Vec<LatencyFault>,
    pub duplicate_remaining: u32,
    pub drop_first_remaining: u32,
    /// Deliveries still to lose on every attempt (Meta gives up on them).
    pub drop_every_remaining: u32,
    pub reverse: Option<ReverseHold>,
}

/// Deliveries held back to be released in reverse order.
#[derive(Debug, Default)]
pub(crate) struct ReverseHold {
    pub count: u32,
    pub held: Vec<Job>,
}

fn matches(pattern: &str, endpoint: &str) -> bool {
    pattern == "*" || pattern == endpoint
}

impl Faults {
    /// Consumes the latency and error faults that apply to one call of `endpoint`.
    pub(crate) fn take_graph(&mut self, endpoint: &str) -> CallFaults {
        let mut faults = CallFaults::default();
        if let Some(index) = self
            .latencies
            .iter()
            .position(|f| matches(&f.endpoint, endpoint))
        {
            let fault = &mut self.latencies[index];
            let latency = Some(Duration::from_millis(fault.latency_ms));
            if fault.after_applying {
                faults.latency_after = latency;
            } else {
                faults.latency_before = latency;
            }
            if let Some(remaining) = fault.remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
                if *remaining == 0 {
                    self.latencies.remove(index);
                }
            }
        }
        if let Some(index) = self
            .graph_errors
            .iter()
            .position(|f| matches(&f.endpoint, endpoint))
        {
            let fault = &mut self.graph_errors[index];
            let error = Some(GraphError::injected(fault));
            if fault.after_applying {
                faults.error_after = error;
            } else {
                faults.error_before = error;
            }
            fault.remaining = fault.remaining.saturating_sub(1);
            if fault.remaining == 0 {
                self.graph_errors.remove(index);
            }
        }
        faults
    }

    /// The faults as JSON for `GET /_emulator/faults`.
    pub(crate) fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "graph_errors": self.graph_errors,
            "latencies": self.latencies,
            "duplicate_remaining": self.duplicate_remaining,
            "drop_first_attempt_remaining": self.drop_first_remaining,
            "drop_every_attempt_remaining": self.drop_every_remaining,
            "reverse": self.reverse.as_ref().map(|r| serde_json::json!({
                "count": r.count,
                "held": r.held.len(),
            })),
        })
    }
}

/// The default message Meta uses for a rate-limit or other well-known code.
pub(crate) fn default_message(code: i64) -> String {
    match code {
        4 => "(#4) Application request limit reached".to_owned(),
        17 => "(#17) User request limit reached".to_owned(),
        32 => "(#32) Page request limit reached".to_owned(),
        613 => "(#613) Calls to this api have exceeded the rate limit.".to_owned(),
        2 => "An unexpected error has occurred. Please retry your request later.".to_owned(),
        1 => "An unknown error occurred".to_owned(),
        other => format!("(#{other}) Injected error"),
    }
}
