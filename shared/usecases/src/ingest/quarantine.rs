//! How long a quarantined body is kept: no longer than the shortest
//! `timeline_retention_days`. What it keeps of the body (no message text of a Page that is
//! not configured) is the webhook format's to say (`WebhookFormat::quarantined_bytes`).

use crate::config::CoordinatorConfig;
use routing_domain::EpochSeconds;

use super::QUARANTINE_RETENTION_SECS;

/// How long a quarantined body is kept: 30 days, or the shortest timeline retention of
/// the configured Pages when that is shorter (a body may hold any Page's messages).
pub(super) fn quarantine_retention_secs(config: &CoordinatorConfig) -> EpochSeconds {
    config
        .pages
        .iter()
        .map(crate::config::PagePolicy::timeline_retention_secs)
        .fold(QUARANTINE_RETENTION_SECS, i64::min)
}
