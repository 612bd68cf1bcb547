//! The timed reset: when control has been away from the Page's bot for the Page's window
//! (`reset_after_secs`) without a renewal, give it back.
//!
//! Two paths lead here and both end in [`TimedReset::reset`]: the every-minute
//! [`TimedReset::sweep`] over the `leases` index (work proportional to the due leases), and
//! DynamoDB stream records of TTL deletions of lease items (decoded by the adapters).
//! A reset is claimed with a conditional write first, so the two paths (or two sweeps)
//! never both act; the result is recorded with a write conditional on the version, so a
//! customer message or an agent action that renews the lease meanwhile wins: the reset is
//! skipped, or undone at Meta when it had already gone through.

mod out_of_hours;
mod outcome;
mod sweep;
mod unclaimed;

pub use sweep::{SweepLimits, SweepReport};
pub use unclaimed::UNCLAIMED_SOURCE;

use std::sync::Arc;

use serde::Serialize;

use crate::config::{PagePolicy, Secret};
use crate::page_reset::perform_reset;
use crate::ports::{GraphApi, GraphError, StoreError};
use crate::records::{RecordError, Records};
use routing_domain::transition::Transition;
use routing_domain::{Conversation, EpochMillis, EpochSeconds, Owner};

/// A claim older than this belongs to an executor that died; another may take over.
pub const RESET_CLAIM_TIMEOUT_MS: i64 = 60_000;
/// Metadata sent to Meta with the reset's thread-control call.
pub const RESET_METADATA: &str = "timed_reset";

/// What a reset did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ResetOutcome {
    /// Control went back through the Graph API (the Page's reset action).
    Reset { from: Owner, to: Owner },
    /// Meta's inbox or an app we hold no token for had it past Meta's own idle rule (24 h
    /// without activity): Meta idles such threads, so it is recorded idle and queued for a
    /// re-sync to confirm.
    LeftToMeta { from: Owner },
    /// Meta's inbox or an app we hold no token for has it, and Meta's own rule has not idled
    /// it yet (the Page's window is shorter): the lease moves to Meta's deadline.
    WaitsForMeta { until: EpochSeconds },
    /// The reset went through at Meta, but a customer message or an agent action renewed
    /// the lease meanwhile: control was given back to the owner, whose action wins.
    Restored { owner: Owner },
    /// Meta refused for good (e.g. the owner is not who the record says): flagged for
    /// re-sync and taken out of the sweep, never retried forever.
    Flagged { reason: String },
    /// Nothing to do.
    Skipped { reason: SkipReason },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No record, or control is not away from the bot.
    NoLease,
    /// The lease was renewed and is not due.
    NotDue,
    /// Another executor (the sweep or the stream path) is resetting it right now.
    ClaimedElsewhere,
    /// Control changed meanwhile (a newer event decided the owner).
    ChangedMeanwhile,
    /// The Page is not in the configuration any more: its lease is parked (taken out of
    /// the `leases` index, the record kept), so that no sweep reads it again.
    PageNotConfigured,
}

/// A reset that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Meta's Graph API failed for now; the lease stays due, so it is retried.
    #[error("the Graph API is unavailable: {0}")]
    GraphUnavailable(String),
    /// Meta asks us to slow down (the app's or the user's limit); the lease stays due. The
    /// sweep starts no more resets.
    #[error("rate limited by the Graph API: {0}")]
    RateLimited(String),
    /// Meta asks us to slow down for this Page ([`GraphError::is_page_rate_limit`]); the
    /// lease stays due. The sweep starts no more work for this Page, and goes on with the
    /// others.
    #[error("the Page is rate limited by the Graph API: {0}")]
    PageRateLimited(String),
    #[error("storage is unavailable: {0}")]
    StoreUnavailable(String),
    /// A fault no retry can mend (configuration, a corrupt item).
    #[error("the reset cannot be done: {0}")]
    Permanent(String),
}

impl ResetError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ResetError::Permanent(_))
    }
}

fn from_store(err: StoreError) -> ResetError {
    if err.is_transient() {
        ResetError::StoreUnavailable(err.to_string())
    } else {
        ResetError::Permanent(err.to_string())
    }
}

fn from_record(err: RecordError) -> ResetError {
    match err {
        RecordError::Store(err) => from_store(err),
        contention @ RecordError::Contention => {
            ResetError::StoreUnavailable(contention.to_string())
        }
    }
}

/// The timed-reset service: built once per container.
#[derive(Clone)]
pub struct TimedReset {
    records: Records,
    graph: Arc<dyn GraphApi>,
}

impl TimedReset {
    pub fn new(records: Records, graph: Arc<dyn GraphApi>) -> Self {
        TimedReset { records, graph }
    }

    fn now(&self) -> EpochMillis {
        self.records.now()
    }

    /// Reset one conversation if its lease is due; safe to call any number of times.
    pub async fn reset(&self, page_id: &str, psid: &str) -> Result<ResetOutcome, ResetError> {
        let config = self.records.config();
        let Some(page) = config.page(page_id) else {
            self.park(page_id, psid).await?;
            return Ok(ResetOutcome::Skipped {
                reason: SkipReason::PageNotConfigured,
            });
        };
        let record = match self.claim(page_id, psid).await? {
            Ok(record) => record,
            Err(reason) => return Ok(ResetOutcome::Skipped { reason }),
        };
        // With the owner's token: the Page's reset action through the Graph API. Meta's
        // inbox or an app we hold no token for: Meta idles it after its own window.
        let owner_app =
            (record.owner.app_id.as_deref()).and_then(|id| config.app_with_token(id, page_id));
        match owner_app {
            Some((app, token)) => {
                self.reset_through_graph(page, &record, &app.id, token)
                    .await
            }
            None => self.leave_to_meta(page, &record).await,
        }
    }

    /// Park the lease of a Page removed from the configuration: the record is kept, its
    /// lease item removed (a Page configured again gets a lease with the next event).
    async fn park(&self, page_id: &str, psid: &str) -> Result<(), ResetError> {
        self.records
            .update(page_id, psid, |current| {
                current.control_expires_at?;
                let mut next = Transition::successor(current);
                next.state.control_expires_at = None;
                next.state.reset_claimed_at = None;
                Some(next)
            })
            .await
            .map_err(from_record)?;
        tracing::warn!(
            page_id,
            "lease of a Page that is not configured any more parked: no sweep reads it again"
        );
        Ok(())
    }

    /// Claim the reset, conditional on the version that shows the expired lease: the
    /// record as the claim wrote it, or why there is nothing to do.
    async fn claim(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Result<Conversation, SkipReason>, ResetError> {
        let claimed_at = self.now();
        let mut claimed: Option<Conversation> = None;
        let mut skip = SkipReason::NoLease;
        self.records
            .update(page_id, psid, |current| {
                claimed = None;
                skip = if current.version == 0 || current.control_expires_at.is_none() {
                    SkipReason::NoLease
                } else if !current.lease_expired(claimed_at) {
                    SkipReason::NotDue
                } else if current
                    .reset_claimed_at
                    .is_some_and(|at| claimed_at - at < RESET_CLAIM_TIMEOUT_MS)
                {
                    SkipReason::ClaimedElsewhere
                } else {
                    let mut next = Transition::successor(current);
                    next.state.reset_claimed_at = Some(claimed_at);
                    claimed = Some(next.state.clone());
                    return Some(next);
                };
                None
            })
            .await
            .map_err(from_record)?;
        Ok(claimed.ok_or(skip))
    }

    /// The Page's reset action with the owner's token, then the record.
    async fn reset_through_graph(
        &self,
        page: &PagePolicy,
        record: &Conversation,
        app_id: &str,
        token: &Secret,
    ) -> Result<ResetOutcome, ResetError> {
        let psid = record.psid.as_str();
        let (to, event, answer) =
            perform_reset(&*self.graph, page, psid, token, Some(RESET_METADATA)).await;
        match answer {
            Ok(()) => {
                self.record_reset(page, record, app_id, token, to, event)
                    .await
            }
            // An outage, or a reset that may have reached Meta unanswered: the next sweep
            // tries again (a reset Meta already applied is then refused as "not owner",
            // flagged and re-synced from `thread_owner`).
            Err(err) if err.is_transient() || matches!(err, GraphError::OutcomeUnknown(_)) => {
                self.unclaim(page, record, false).await?;
                Err(match err {
                    _ if err.is_page_rate_limit() => ResetError::PageRateLimited(err.to_string()),
                    GraphError::RateLimited { .. } => ResetError::RateLimited(err.to_string()),
                    other => ResetError::GraphUnavailable(other.to_string()),
                })
            }
            Err(err) => {
                tracing::warn!(page_id = %page.id, error = %err, "timed reset refused by Meta; flagged for re-sync");
                self.unclaim(page, record, true).await?;
                Ok(ResetOutcome::Flagged {
                    reason: err.to_string(),
                })
            }
        }
    }
}
