//! resync: asks the Graph API who owns a thread and corrects the record, on demand
//! (`POST /pages/{page_id}/conversations/{psid}/resync`) and as a scheduled batch.
//! A thin adapter: every decision is in `routing_core::resync`.

/// Environment variables this function reads, beyond the common ones.
pub const EXTRA_ENVIRONMENT: &[&str] = &["RESYNC_RATE_PER_SECOND", "RESYNC_LEASE_SLICE"];

/// Every DynamoDB action this function performs on the table and its indexes.
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];
