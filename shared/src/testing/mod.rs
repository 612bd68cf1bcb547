//! Test doubles and fixtures shared by the crates' tests (feature `testing`): a Page
//! configuration, builders for webhook events in Meta's shapes, a scripted `GraphApi`, and a
//! `Store` that fails on demand.

mod faulty_store;
mod fixtures;
mod scripted_graph;

pub use faulty_store::FaultyStore;
pub use fixtures::*;
pub use scripted_graph::{GraphCall, ScriptedAnswer, ScriptedGraph};
