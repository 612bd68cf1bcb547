//! Test doubles and fixtures shared by the crates' tests (feature `testing`): a Page
//! configuration, builders for webhook events in Meta's shapes, a scripted `GraphApi`, a
//! `Store` that fails on demand and one with DynamoDB's latency.

mod faulty_store;
mod fixtures;
mod latency_store;
mod recording_bus;
mod scripted_graph;

pub use faulty_store::FaultyStore;
pub use fixtures::*;
pub use latency_store::{Latency, LatencyStore, RequestCounts};
pub use recording_bus::RecordingBus;
pub use scripted_graph::{GraphCall, ScriptedAnswer, ScriptedGraph};
