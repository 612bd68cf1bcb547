//! Test doubles and fixtures shared by the crates' tests (feature `testing`): a Page
//! configuration, builders for webhook events in Meta's shapes, and a scripted `GraphApi`.

mod fixtures;
mod scripted_graph;

pub use fixtures::*;
pub use scripted_graph::{GraphCall, ScriptedAnswer, ScriptedGraph};
