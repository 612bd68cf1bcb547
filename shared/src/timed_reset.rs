//! The timed reset: when control has been away from the Page's bot for the Page's window
//! (`reset_after_secs`) without a renewal, give it back.
//!
//! Two paths lead here and both end in [`TimedReset::reset`]: the every-minute
//! [`TimedReset::sweep`] over the `leases` index (work proportional to the due leases), and
//! DynamoDB stream records of TTL deletions of lease items ([`lease_of_stream_record`]).
//! A reset is claimed with a conditional write first, so the two paths (or two sweeps)
//! never both act; the result is recorded with a write conditional on the version, so a
//! customer message or an agent action that renews the lease meanwhile wins: the reset is
//! skipped, or undone at Meta when it had already gone through.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::{PageConfig, Secret};
use crate::domain::{Cause, Conversation, EpochMillis, EpochSeconds, Owner};
use crate::domain::{TimelineEntry, TimelineRecord, META_IDLE_SECS};
use crate::graph::{GraphError, OutageStreak};
use crate::handoff::{api_key, ControlService};
use crate::http::ApiError;
use crate::store::{StoreError, LEASE_SHARDS};
use crate::transition::{apply_control_change, ControlChange, Transition};

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
    /// The Page is not in the configuration any more.
    PageNotConfigured,
}

/// A reset that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Meta's Graph API failed for now; the lease stays due, so it is retried.
    #[error("the Graph API is unavailable: {0}")]
    GraphUnavailable(String),
    /// Meta asks us to slow down; the lease stays due. The sweep starts no more resets.
    #[error("rate limited by the Graph API: {0}")]
    RateLimited(String),
    #[error("storage is unavailable: {0}")]
    StoreUnavailable(String),
    /// A fault no retry can mend (configuration, a corrupt item).
    #[error("the reset cannot be done: {0}")]
    Permanent(String),
}

impl ResetError {
    /// The Lambda error type reported for this error (`Retryable.*` are worth a retry).
    pub fn error_type(&self) -> &'static str {
        match self {
            ResetError::GraphUnavailable(_) => "Retryable.GraphUnavailable",
            ResetError::RateLimited(_) => "Retryable.RateLimited",
            ResetError::StoreUnavailable(_) => "Retryable.StoreUnavailable",
            ResetError::Permanent(_) => "NonRetryable.Permanent",
        }
    }

    pub fn is_retryable(&self) -> bool {
        !matches!(self, ResetError::Permanent(_))
    }
}

fn from_api(err: ApiError) -> ResetError {
    if err.status >= 500 {
        ResetError::StoreUnavailable(err.message)
    } else {
        ResetError::Permanent(format!("{}: {}", err.code, err.message))
    }
}

fn from_store(err: StoreError) -> ResetError {
    if err.is_transient() {
        ResetError::StoreUnavailable(err.to_string())
    } else {
        ResetError::Permanent(err.to_string())
    }
}

/// Limits of one sweep.
#[derive(Clone, Copy, Debug)]
pub struct SweepLimits {
    /// Stop starting new resets after this instant (before the Lambda's own deadline).
    pub stop_at: Instant,
    /// Resets in flight at once.
    pub concurrency: usize,
    /// Leases read per index query.
    pub page_size: u32,
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Due leases the index returned.
    pub due_found: u64,
    pub reset: u64,
    pub left_to_meta: u64,
    pub waits_for_meta: u64,
    pub restored: u64,
    pub flagged: u64,
    pub skipped: u64,
    /// Resets that failed for now (the lease stays due for the next sweep).
    pub failed: u64,
    /// The time budget ran out, Meta rate-limited us, or the Graph API is down: the rest is
    /// left for the next run.
    pub stopped_early: bool,
    pub rate_limited: bool,
    /// [`MAX_OUTAGES_IN_A_ROW`](crate::graph::MAX_OUTAGES_IN_A_ROW) resets in a row found the Graph API unavailable.
    pub graph_unavailable: bool,
    /// Shards whose index query failed (their leases wait for the next run).
    pub shards_unavailable: u32,
    /// How late the most overdue lease found was, in seconds (the sweep's lag).
    pub lag_secs: Option<i64>,
}

impl SweepReport {
    fn count(&mut self, outcome: &Result<ResetOutcome, ResetError>) {
        match outcome {
            Ok(ResetOutcome::Reset { .. }) => self.reset += 1,
            Ok(ResetOutcome::LeftToMeta { .. }) => self.left_to_meta += 1,
            Ok(ResetOutcome::WaitsForMeta { .. }) => self.waits_for_meta += 1,
            Ok(ResetOutcome::Restored { .. }) => self.restored += 1,
            Ok(ResetOutcome::Flagged { .. }) => self.flagged += 1,
            Ok(ResetOutcome::Skipped { .. }) => self.skipped += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// The lease a DynamoDB stream record is about, when the record is a TTL deletion of a
/// lease item (`REMOVE` by the principal `dynamodb.amazonaws.com`); `None` for anything
/// else (user deletions, inserts, modifications, other items).
pub fn lease_of_stream_record(
    event_name: &str,
    principal_id: Option<&str>,
    identity_type: Option<&str>,
    pk: Option<&str>,
    sk: Option<&str>,
) -> Option<(String, String)> {
    let ttl_deletion = event_name == "REMOVE"
        && principal_id == Some("dynamodb.amazonaws.com")
        && identity_type.is_none_or(|t| t == "Service");
    if !ttl_deletion || sk != Some("LEASE") {
        return None;
    }
    let rest = pk?.strip_prefix("CONV#")?;
    let (page_id, psid) = rest.split_once('#')?;
    (!page_id.is_empty() && !psid.is_empty()).then(|| (page_id.to_string(), psid.to_string()))
}

/// The timed-reset service: built once per container.
#[derive(Clone)]
pub struct TimedReset {
    control: ControlService,
}

impl TimedReset {
    pub fn new(control: ControlService) -> Self {
        TimedReset { control }
    }

    fn now(&self) -> EpochMillis {
        self.control.clock.now_millis()
    }

    /// Reset one conversation if its lease is due; safe to call any number of times.
    pub async fn reset(&self, page_id: &str, psid: &str) -> Result<ResetOutcome, ResetError> {
        let Some(page) = self.control.config.page(page_id) else {
            tracing::warn!(
                page_id,
                "lease of a page that is not configured; left alone"
            );
            return Ok(ResetOutcome::Skipped {
                reason: SkipReason::PageNotConfigured,
            });
        };
        let claimed_at = self.now();
        // 1. Claim, conditional on the version that shows the expired lease.
        let mut claimed: Option<Conversation> = None;
        let mut skip = SkipReason::NoLease;
        self.control
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
            .map_err(from_api)?;
        let Some(record) = claimed else {
            return Ok(ResetOutcome::Skipped { reason: skip });
        };
        // With the owner's token: the Page's reset action through the Graph API. Meta's
        // inbox or an app we hold no token for: Meta idles it after its own window.
        let owner_app =
            (record.owner.app_id.as_deref()).and_then(|id| self.control.acting_app(page, id).ok());
        match owner_app {
            Some((app, token)) => {
                self.reset_through_graph(page, &record, &app.id, token)
                    .await
            }
            None => self.leave_to_meta(page, &record).await,
        }
    }

    /// The Page's reset action with the owner's token, then the record.
    async fn reset_through_graph(
        &self,
        page: &PageConfig,
        record: &Conversation,
        app_id: &str,
        token: &Secret,
    ) -> Result<ResetOutcome, ResetError> {
        let psid = record.psid.as_str();
        let (to, event, answer) = self
            .control
            .reset_action(page, psid, token, Some(RESET_METADATA))
            .await;
        match answer {
            Ok(()) => {
                self.record_reset(page, record, app_id, token, to, event)
                    .await
            }
            Err(err) if err.is_transient() => {
                self.unclaim(page, record, false).await?;
                Err(match err {
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

    /// Meta confirmed the reset: record it, unless something happened meanwhile. A
    /// renewal (customer message, agent reply, the owner's take) wins: control goes back to
    /// the owner. Another owner since the claim decides: the reset is not recorded and a
    /// re-sync confirms with Meta.
    async fn record_reset(
        &self,
        page: &PageConfig,
        claimed: &Conversation,
        app_id: &str,
        token: &Secret,
        to: Owner,
        event: &str,
    ) -> Result<ResetOutcome, ResetError> {
        let from = claimed.owner.clone();
        let finished_at = self.now();
        let key = api_key("timeout", finished_at);
        let metadata = format!("no activity for {} s", page.reset_after());
        let mut outcome = ResetOutcome::Skipped {
            reason: SkipReason::ChangedMeanwhile,
        };
        let mut wrote = false;
        self.control
            .update_from(&page.id, &claimed.psid, Some(claimed.clone()), |current| {
                wrote = false;
                let mine = current.reset_claimed_at == claimed.reset_claimed_at;
                let same_owner = current.owner == from;
                // A control event applied since the claim (a webhook, an API change): it may
                // have reached Meta before or after the release, so Meta is asked.
                let newer_event = current.control_marker() != claimed.control_marker();
                if mine && same_owner && current.lease_expired(finished_at) {
                    outcome = ResetOutcome::Reset {
                        from: from.clone(),
                        to: to.clone(),
                    };
                    let mut transition = apply_control_change(
                        current,
                        &ControlChange {
                            to: to.clone(),
                            cause: Cause::Timeout,
                            actor: Some(app_id),
                            event,
                            metadata: Some(&metadata),
                            at: finished_at,
                            key: key.clone(),
                        },
                        page,
                    );
                    transition.state.reset_claimed_at = None;
                    transition.state.needs_resync |= newer_event;
                    wrote = true;
                    return Some(transition);
                }
                outcome = if current.owner == to {
                    // Meta's webhook for the reset was applied first.
                    ResetOutcome::Reset {
                        from: from.clone(),
                        to: to.clone(),
                    }
                } else if same_owner {
                    // Renewed (a reply, a message, a take by the owner) while Meta released
                    // it: the owner gets control back below.
                    ResetOutcome::Restored {
                        owner: from.clone(),
                    }
                } else {
                    ResetOutcome::Skipped {
                        reason: SkipReason::ChangedMeanwhile,
                    }
                };
                if !mine {
                    // Another executor took over an expired claim: it decides.
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.reset_claimed_at = None;
                // Another owner since the claim: whether Meta applied that change before or
                // after the release is unknown here; ask Meta.
                next.state.needs_resync |= !same_owner && current.owner != to;
                wrote = true;
                Some(next)
            })
            .await
            .map_err(from_api)?;
        if let (ResetOutcome::Restored { owner }, true) = (&outcome, wrote) {
            self.restore(page, &claimed.psid, owner, app_id, token)
                .await?;
        }
        Ok(outcome)
    }

    /// Give control back to `owner` at Meta after a reset that lost the race with a
    /// renewal; the record already says `owner`. Failing that, ask for a re-sync.
    async fn restore(
        &self,
        page: &PageConfig,
        psid: &str,
        owner: &Owner,
        app_id: &str,
        token: &Secret,
    ) -> Result<(), ResetError> {
        let answer = self
            .control
            .graph
            .take_thread_control(token, &page.id, psid, Some("timed_reset_undone"))
            .await;
        let at = self.now();
        let key = api_key("timeout-undone", at);
        let failed = answer.as_ref().err().map(GraphError::to_string);
        tracing::info!(page_id = %page.id, restored = failed.is_none(), "timed reset lost a race with a renewal");
        self.control
            .update(&page.id, psid, |current| {
                let mut next = Transition::successor(current);
                next.state.needs_resync |= failed.is_some() || current.owner != *owner;
                next.timeline.push(TimelineEntry::new(
                    at,
                    &key,
                    TimelineRecord::Control {
                        from: owner.clone(),
                        to: owner.clone(),
                        cause: Cause::Timeout,
                        actor: Some(app_id.to_string()),
                        event: "timed_reset_undone".into(),
                        metadata: Some(match &failed {
                            None => "renewed while resetting; control given back".into(),
                            Some(err) => {
                                format!("renewed while resetting; give-back failed: {err}")
                            }
                        }),
                        late: false,
                    },
                ));
                Some(next)
            })
            .await
            .map_err(from_api)?;
        Ok(())
    }

    /// Meta's inbox or an app we hold no token for has it. Meta idles a thread after 24 h
    /// without activity: until then the lease moves to that deadline; after it, the
    /// record becomes idle and a re-sync confirms with Meta.
    async fn leave_to_meta(
        &self,
        page: &PageConfig,
        claimed: &Conversation,
    ) -> Result<ResetOutcome, ResetError> {
        let from = claimed.owner.clone();
        let at = self.now();
        let key = api_key("timeout", at);
        let mut outcome = ResetOutcome::Skipped {
            reason: SkipReason::ChangedMeanwhile,
        };
        self.control
            .update_from(&page.id, &claimed.psid, Some(claimed.clone()), |current| {
                if current.reset_claimed_at != claimed.reset_claimed_at {
                    return None;
                }
                let meta_idles_at = current.last_activity_at.div_euclid(1000) + META_IDLE_SECS;
                let unchanged = current.control_marker() == claimed.control_marker();
                let mut next = if !unchanged || !current.lease_expired(at) {
                    outcome = ResetOutcome::Skipped {
                        reason: SkipReason::ChangedMeanwhile,
                    };
                    Transition::successor(current)
                } else if meta_idles_at * 1000 > at {
                    outcome = ResetOutcome::WaitsForMeta {
                        until: meta_idles_at,
                    };
                    let mut next = Transition::successor(current);
                    next.state.control_expires_at = Some(meta_idles_at);
                    next
                } else {
                    outcome = ResetOutcome::LeftToMeta { from: from.clone() };
                    let mut transition = apply_control_change(
                        current,
                        &ControlChange {
                            to: Owner::idle(),
                            cause: Cause::Timeout,
                            actor: None,
                            event: "meta_idle_timeout",
                            metadata: Some(
                                "Meta idles the thread after 24 h without activity; re-sync queued",
                            ),
                            at,
                            key: key.clone(),
                        },
                        page,
                    );
                    transition.state.needs_resync = true;
                    transition
                };
                next.state.reset_claimed_at = None;
                Some(next)
            })
            .await
            .map_err(from_api)?;
        Ok(outcome)
    }

    /// Drop the claim: for a retry (the lease stays due), or for good (`give_up`: flagged
    /// for re-sync and, unless a renewal landed meanwhile, taken out of the sweep until the
    /// re-sync sets the lease from Meta's answer).
    async fn unclaim(
        &self,
        page: &PageConfig,
        claimed: &Conversation,
        give_up: bool,
    ) -> Result<(), ResetError> {
        self.control
            .update_from(&page.id, &claimed.psid, Some(claimed.clone()), |current| {
                if current.reset_claimed_at != claimed.reset_claimed_at {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.reset_claimed_at = None;
                if give_up {
                    next.state.needs_resync = true;
                    let untouched = current.owner == claimed.owner
                        && current.control_expires_at == claimed.control_expires_at;
                    if untouched {
                        next.state.control_expires_at = None;
                    }
                }
                Some(next)
            })
            .await
            .map_err(from_api)
            .map(drop)
    }

    /// Find due leases through the `leases` index, shard by shard and page by page, and
    /// reset each (at most `limits.concurrency` at once) until they are done, the time
    /// budget runs out, Meta rate-limits us, or [`MAX_OUTAGES_IN_A_ROW`](crate::graph::MAX_OUTAGES_IN_A_ROW) resets in a row
    /// find the Graph API unavailable (each failed reset costs a claim and its release).
    /// A shard whose query fails is left for the next run; the sweep fails only when every
    /// shard did.
    pub async fn sweep(&self, limits: SweepLimits) -> Result<SweepReport, ResetError> {
        let now: EpochSeconds = self.now().div_euclid(1000);
        let mut report = SweepReport::default();
        let rate_limited = AtomicBool::new(false);
        let outages = OutageStreak::default();
        let halted = || rate_limited.load(Ordering::Relaxed) || outages.is_down();
        let mut last_error = None;
        'shards: for shard in 0..LEASE_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                if halted() || Instant::now() >= limits.stop_at {
                    report.stopped_early = true;
                    break 'shards;
                }
                let page = match self
                    .control
                    .store
                    .due_leases(
                        shard,
                        EpochSeconds::MIN..=now,
                        limits.page_size,
                        cursor.as_deref(),
                    )
                    .await
                {
                    Ok(page) => page,
                    Err(err) => {
                        tracing::warn!(shard, error = %err, "lease index query failed; shard left for the next sweep");
                        report.shards_unavailable += 1;
                        last_error = Some(from_store(err));
                        continue 'shards;
                    }
                };
                report.due_found += page.items.len() as u64;
                // Leases of Pages no longer configured are left alone: not the sweep's lag.
                let oldest = page
                    .items
                    .iter()
                    .filter(|l| self.control.config.page(&l.page_id).is_some())
                    .map(|l| l.due)
                    .min();
                if let Some(oldest) = oldest {
                    let lag = now - oldest;
                    report.lag_secs = Some(report.lag_secs.map_or(lag, |l| l.max(lag)));
                }
                let (rate_limited, outages, halted) = (&rate_limited, &outages, &halted);
                let outcomes: Vec<_> = stream::iter(page.items.iter())
                    .take_while(|_| {
                        let go = !halted() && Instant::now() < limits.stop_at;
                        async move { go }
                    })
                    .map(|lease| async move {
                        let outcome = self.reset(&lease.page_id, &lease.psid).await;
                        match &outcome {
                            Err(ResetError::RateLimited(_)) => {
                                rate_limited.store(true, Ordering::Relaxed);
                            }
                            Err(ResetError::GraphUnavailable(_)) => outages.unavailable(),
                            Ok(_) => outages.answered(),
                            Err(_) => {}
                        }
                        outcome
                    })
                    .buffer_unordered(limits.concurrency.max(1))
                    .collect()
                    .await;
                for outcome in &outcomes {
                    if let Err(err) = outcome {
                        tracing::warn!(error = %err, "timed reset failed; retried next sweep");
                    }
                    report.count(outcome);
                }
                report.rate_limited = rate_limited.load(Ordering::Relaxed);
                report.graph_unavailable = outages.is_down();
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        match last_error {
            Some(err) if report.shards_unavailable == LEASE_SHARDS => Err(err),
            _ => Ok(report),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ttl_deletions_of_lease_items_are_leases() {
        let ttl = |pk: &str, sk: &str| {
            lease_of_stream_record(
                "REMOVE",
                Some("dynamodb.amazonaws.com"),
                Some("Service"),
                Some(pk),
                Some(sk),
            )
        };
        assert_eq!(
            ttl("CONV#111#222", "LEASE"),
            Some(("111".to_string(), "222".to_string()))
        );
        assert_eq!(ttl("CONV#111#222", "STATE"), None);
        assert_eq!(ttl("CONV#111#222", "TL#0000000000001#x"), None);
        assert_eq!(ttl("QUARANTINE#1001", "LEASE"), None);
        assert_eq!(ttl("CONV#111", "LEASE"), None);
        // A user deletion (our own transaction removing the lease) is not a TTL expiry.
        assert_eq!(
            lease_of_stream_record(
                "REMOVE",
                Some("AROAEXAMPLE:timed-reset"),
                None,
                Some("CONV#1#2"),
                Some("LEASE")
            ),
            None
        );
        assert_eq!(
            lease_of_stream_record(
                "MODIFY",
                Some("dynamodb.amazonaws.com"),
                Some("Service"),
                Some("CONV#1#2"),
                Some("LEASE")
            ),
            None
        );
    }
}
