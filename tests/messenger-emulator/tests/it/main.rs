//! The Messenger Platform emulator's integration tests, one binary: its binary, embedding
//! API, thread control, webhooks, Graph errors and fault injection.

mod chat;
mod cli;
mod common;
mod errors;
mod faults;
mod library;
mod thread_control;
mod webhooks;
