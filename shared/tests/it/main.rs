//! routing-core's integration tests, one binary: the stores, the event rules, webhook parsing,
//! the Graph client, the configuration source, the timed reset and the re-sync.

mod config_source;
mod contract;
mod control_api;
mod control_rules;
mod event_bus;
mod fairness;
mod graph_client;
mod hostile_input;
mod opening_hours_dst;
mod resync;
mod retention;
mod store_scenarios;
mod support;
mod timed_reset;
mod timeline_keys;
mod transition_rules;
mod trigger_rules;
mod triggers;
mod unclaimed;
mod webhook_fixtures;
