//! The every-minute sweep: due leases through the `leases` index, shard by shard (starting
//! with another shard each minute, so that a sweep that runs out of time never leaves the
//! same shards behind) and page by page, each reset (a few at once), until done, out of
//! time, rate limited by Meta, or the Graph API is down. A rate limit of one Facebook Page
//! stops only that Page's work.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::{from_store, ResetError, ResetOutcome, TimedReset};
use crate::outages::OutageStreak;
use crate::ports::{DueLease, LEASE_SHARDS};
use routing_domain::EpochSeconds;

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
    /// Hand-overs found unclaimed (each one `conversation.unclaimed` event).
    pub unclaimed: u64,
    /// Out-of-hours messages sent.
    pub out_of_hours_sent: u64,
    pub skipped: u64,
    /// Resets that failed for now (the lease stays due for the next sweep).
    pub failed: u64,
    /// Facebook Pages Meta rate-limited during this sweep: their remaining leases wait for
    /// the next sweep, the other Pages' go on.
    pub pages_rate_limited: u64,
    /// Due leases left for the next sweep because their Page was rate limited.
    pub deferred: u64,
    /// The shard this sweep started with (it rotates every minute).
    pub first_shard: u32,
    /// The time budget ran out, Meta rate-limited the app, or the Graph API is down: the
    /// rest is left for the next run.
    pub stopped_early: bool,
    /// Meta rate-limited the app (or the user) for every Page: the sweep stopped.
    pub rate_limited: bool,
    /// [`MAX_OUTAGES_IN_A_ROW`](crate::outages::MAX_OUTAGES_IN_A_ROW) resets in a row found the Graph API unavailable.
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

/// What the sweep did for one due lease: its out-of-hours notice, its unclaimed
/// hand-over (whether each happened now), and its reset; nothing (`Deferred`) when its
/// Page was rate limited before it started.
enum LeaseWork {
    Done {
        notice: Result<bool, ResetError>,
        unclaimed: Result<bool, ResetError>,
        reset: Result<ResetOutcome, ResetError>,
    },
    Deferred,
}

impl SweepReport {
    fn note_timers(
        &mut self,
        notice: &Result<bool, ResetError>,
        unclaimed: &Result<bool, ResetError>,
    ) {
        for (done, counter, what) in [
            (notice, &mut self.out_of_hours_sent, "out-of-hours notice"),
            (unclaimed, &mut self.unclaimed, "unclaimed hand-over"),
        ] {
            match done {
                Ok(true) => *counter += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, what, "not handled; retried next sweep");
                    self.failed += 1;
                }
            }
        }
    }
}

/// What stops the sweep early, or one Page's work in it, shared by its concurrent resets.
#[derive(Default)]
struct Brakes {
    rate_limited: AtomicBool,
    outages: OutageStreak,
    /// Pages Meta rate-limited: no more work for them in this sweep.
    limited_pages: Mutex<HashSet<String>>,
}

impl Brakes {
    fn halted(&self) -> bool {
        self.rate_limited.load(Ordering::Relaxed) || self.outages.is_down()
    }

    fn page_limited(&self, page_id: &str) -> bool {
        self.limited_pages
            .lock()
            .is_ok_and(|pages| pages.contains(page_id))
    }

    fn limited_pages(&self) -> u64 {
        self.limited_pages.lock().map_or(0, |p| p.len() as u64)
    }

    fn note(&self, page_id: &str, outcome: &Result<ResetOutcome, ResetError>) {
        match outcome {
            Err(ResetError::PageRateLimited(_)) => {
                if let Ok(mut pages) = self.limited_pages.lock() {
                    if pages.insert(page_id.to_string()) {
                        tracing::warn!(
                            page_id,
                            "the Page is rate limited by Meta; its leases wait for the next sweep"
                        );
                    }
                }
            }
            Err(ResetError::RateLimited(_)) => self.rate_limited.store(true, Ordering::Relaxed),
            Err(ResetError::GraphUnavailable(_)) => self.outages.unavailable(),
            Ok(_) => self.outages.answered(),
            Err(_) => {}
        }
    }
}

impl TimedReset {
    /// Find due leases through the `leases` index, shard by shard (from a shard that
    /// rotates every minute) and page by page, and reset each (at most
    /// `limits.concurrency` at once) until they are done, the time budget runs out, Meta
    /// rate-limits the app (a Page's own limit stops that Page's leases only), or
    /// [`MAX_OUTAGES_IN_A_ROW`](crate::outages::MAX_OUTAGES_IN_A_ROW) resets in a
    /// row find the Graph API unavailable (each failed reset costs a claim and its
    /// release). A shard whose query fails is left for the next run; the sweep fails only
    /// when every shard did.
    pub async fn sweep(&self, limits: SweepLimits) -> Result<SweepReport, ResetError> {
        let now: EpochSeconds = self.now().div_euclid(1000);
        let mut report = SweepReport::default();
        let brakes = Brakes::default();
        let mut last_error = None;
        let first = first_shard(now);
        report.first_shard = first;
        for shard in (0..LEASE_SHARDS).map(|i| (first + i) % LEASE_SHARDS) {
            match self
                .sweep_shard(shard, now, &limits, &brakes, &mut report)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    report.stopped_early = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(shard, error = %err, "lease index query failed; shard left for the next sweep");
                    report.shards_unavailable += 1;
                    last_error = Some(err);
                }
            }
        }
        match last_error {
            Some(err) if report.shards_unavailable == LEASE_SHARDS => Err(err),
            _ => Ok(report),
        }
    }

    /// One shard's due leases, page by page; `false` when the sweep must stop.
    async fn sweep_shard(
        &self,
        shard: u32,
        now: EpochSeconds,
        limits: &SweepLimits,
        brakes: &Brakes,
        report: &mut SweepReport,
    ) -> Result<bool, ResetError> {
        let mut cursor: Option<String> = None;
        loop {
            if brakes.halted() || Instant::now() >= limits.stop_at {
                return Ok(false);
            }
            let listing = self
                .records
                .store()
                .due_leases(
                    shard,
                    EpochSeconds::MIN..=now,
                    limits.page_size,
                    cursor.as_deref(),
                )
                .await
                .map_err(from_store)?;
            report.due_found += listing.items.len() as u64;
            self.note_lag(&listing.items, now, report);
            let outcomes = self.reset_all(&listing.items, limits, brakes).await;
            for work in &outcomes {
                let LeaseWork::Done {
                    notice,
                    unclaimed,
                    reset,
                } = work
                else {
                    report.deferred += 1;
                    continue;
                };
                report.note_timers(notice, unclaimed);
                if let Err(err) = reset {
                    tracing::warn!(error = %err, "timed reset failed; retried next sweep");
                }
                report.count(reset);
            }
            report.rate_limited = brakes.rate_limited.load(Ordering::Relaxed);
            report.pages_rate_limited = brakes.limited_pages();
            report.graph_unavailable = brakes.outages.is_down();
            match listing.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(true),
            }
        }
    }

    /// The sweep's lag: how late the most overdue lease found is. Leases of Pages no longer
    /// configured are left alone: not the sweep's lag.
    fn note_lag(&self, leases: &[DueLease], now: EpochSeconds, report: &mut SweepReport) {
        let config = self.records.config();
        let oldest = leases
            .iter()
            .filter(|l| config.page(&l.page_id).is_some())
            .map(|l| l.due)
            .min();
        if let Some(oldest) = oldest {
            let lag = now - oldest;
            report.lag_secs = Some(report.lag_secs.map_or(lag, |l| l.max(lag)));
        }
    }

    /// Fire each lease's unclaimed hand-over when due, and reset it, a few at once, starting none once the sweep is halted or out of
    /// time.
    async fn reset_all(
        &self,
        leases: &[DueLease],
        limits: &SweepLimits,
        brakes: &Brakes,
    ) -> Vec<LeaseWork> {
        stream::iter(leases.iter())
            .take_while(|_| {
                let go = !brakes.halted() && Instant::now() < limits.stop_at;
                async move { go }
            })
            .map(|lease| async move {
                if brakes.page_limited(&lease.page_id) {
                    return LeaseWork::Deferred;
                }
                // The out-of-hours notice and an unclaimed hand-over's deadline first (the
                // lease may wake for them alone).
                let notice = self.send_out_of_hours(&lease.page_id, &lease.psid).await;
                let unclaimed = self.fire_unclaimed(&lease.page_id, &lease.psid).await;
                let outcome = self.reset(&lease.page_id, &lease.psid).await;
                brakes.note(&lease.page_id, &outcome);
                LeaseWork::Done {
                    notice,
                    unclaimed,
                    reset: outcome,
                }
            })
            .buffer_unordered(limits.concurrency.max(1))
            .collect()
            .await
    }
}

/// The shard a sweep at `now` (epoch seconds) starts with: the next one each minute, so
/// every shard comes first in turn.
fn first_shard(now: EpochSeconds) -> u32 {
    u32::try_from(now.div_euclid(60).rem_euclid(i64::from(LEASE_SHARDS))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_minute_the_sweep_starts_with_the_next_shard() {
        let minute = 1_800_000_007 - 1_800_000_007 % 60;
        let firsts: Vec<u32> = (0..i64::from(LEASE_SHARDS) * 2)
            .map(|m| first_shard(minute + m * 60 + 59))
            .collect();
        let mut seen = firsts[..LEASE_SHARDS as usize].to_vec();
        seen.sort_unstable();
        assert_eq!(seen, (0..LEASE_SHARDS).collect::<Vec<_>>());
        assert_eq!(firsts[0], firsts[LEASE_SHARDS as usize]);
    }
}
