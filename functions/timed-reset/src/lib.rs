//! timed-reset: returns control after a Page's window. Two triggers: an EventBridge
//! Scheduler event (the every-minute sweep) and DynamoDB stream records (TTL deletions of
//! lease items). A thin adapter: every decision is in `routing_core::timed_reset`.

/// Environment variables this function reads, beyond the common ones.
pub const EXTRA_ENVIRONMENT: &[&str] = &[];

/// Every DynamoDB action this function performs on the table and its indexes
/// (checked against a counting client in the tests and against the template's policy).
pub const TABLE_ACTIONS: &[&str] = &["GetItem", "Query", "TransactWriteItems"];
