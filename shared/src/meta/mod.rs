//! Meta's wire format: how Meta writes ids and integers in JSON ([`json`]), webhook bodies
//! and their signatures ([`webhook`]), and the Graph API's requests and answers
//! ([`graph`], with its client).

pub mod graph;
pub mod json;
pub mod webhook;
