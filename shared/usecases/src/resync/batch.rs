//! The scheduled batch: the conversations flagged `needs_resync` (shard by shard, starting
//! with another shard each run), then a rotating slice of those holding a lease, paced,
//! within a time budget, stopping at Meta's first rate limit of the app or when the Graph
//! API is down. A rate limit of one Facebook Page stops only that Page's re-syncs.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Resync, ResyncError};
use crate::config::PagePolicy;
use crate::outages::{OutageStreak, MAX_OUTAGES_IN_A_ROW};
use crate::ports::{GraphError, LEASE_SHARDS, MAX_PAGE_SIZE, RESYNC_SHARDS};
use routing_domain::transition::Transition;
use routing_domain::{Conversation, EpochSeconds, META_IDLE_SECS};

/// The batch moves on to the next lease shard every this many seconds.
pub const LEASE_ROTATION_SECS: i64 = 300;
/// Flagged conversations read per index query.
const FLAGGED_PAGE_SIZE: u32 = 100;

/// Limits of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResyncLimits {
    /// Start no Graph call after this instant (before the Lambda's own deadline).
    pub stop_at: Instant,
    /// At most this many Graph calls per second (0 is treated as 1).
    pub rate_per_second: u32,
    /// Leased conversations checked after the flagged ones (0: none).
    pub lease_slice: u32,
}

/// Default of `RESYNC_RATE_PER_SECOND`.
pub const DEFAULT_RESYNC_RATE_PER_SECOND: u32 = 5;
/// Default of `RESYNC_LEASE_SLICE`.
pub const DEFAULT_RESYNC_LEASE_SLICE: u32 = 50;

/// The re-sync batch's pace and lease slice (the function's settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResyncPace {
    pub rate_per_second: u32,
    pub lease_slice: u32,
}

impl Default for ResyncPace {
    fn default() -> Self {
        ResyncPace {
            rate_per_second: DEFAULT_RESYNC_RATE_PER_SECOND,
            lease_slice: DEFAULT_RESYNC_LEASE_SLICE,
        }
    }
}

impl ResyncLimits {
    /// The pace and slice, stopping at `stop_at`.
    pub fn new(stop_at: Instant, pace: ResyncPace) -> Self {
        ResyncLimits {
            stop_at,
            rate_per_second: pace.rate_per_second,
            lease_slice: pace.lease_slice,
        }
    }
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResyncBatchReport {
    /// Conversations re-synced (or attempted).
    pub examined: u64,
    /// Of those, found flagged through the `resync` index.
    pub flagged_examined: u64,
    /// Of those, taken from the lease slice.
    pub leases_examined: u64,
    /// The lease shard checked this run.
    pub lease_shard: u32,
    /// Where this run's lease slice started (a due time, epoch seconds; it wraps around to
    /// the shard's earliest lease when fewer than a slice are due after it).
    pub lease_slice_from: EpochSeconds,
    /// The record named another owner and was corrected.
    pub changed: u64,
    /// The record was right (the flag was cleared and the lease set from Meta's).
    pub unchanged: u64,
    /// Could not be re-synced now (left flagged for the next run).
    pub failed: u64,
    /// Meta answered "rate limited" for the app (or the user): the batch stopped there, the
    /// rest waits for the next run.
    pub rate_limited: bool,
    /// Facebook Pages Meta rate-limited during this run: their remaining conversations
    /// wait for the next run, the other Pages' go on.
    pub pages_rate_limited: u64,
    /// Conversations left for the next run because their Page was rate limited.
    pub deferred: u64,
    /// The `resync` index shard this run started with (it rotates every run).
    pub first_flagged_shard: u32,
    /// The time budget ran out: the rest waits for the next run.
    pub stopped_early: bool,
    /// The Graph API was unavailable for [`MAX_OUTAGES_IN_A_ROW`] re-syncs in a row: the
    /// batch stopped there, the rest waits for the next run.
    pub graph_unavailable: bool,
    /// Listing the indexes failed (storage unavailable).
    pub store_unavailable: bool,
    /// `thread_owner` calls made.
    pub graph_calls: u64,
}

/// One batch as it goes: its pacing, its report, and how many re-syncs in a row found the
/// Graph API unavailable.
struct BatchProgress {
    pacer: Pacer,
    report: ResyncBatchReport,
    outages: OutageStreak,
    /// Pages Meta rate-limited in this run.
    limited_pages: HashSet<String>,
}

impl BatchProgress {
    /// The Page was rate limited in this run: its conversation waits for the next run.
    fn defers(&mut self, page_id: &str) -> bool {
        let limited = self.limited_pages.contains(page_id);
        if limited {
            self.report.deferred += 1;
        }
        limited
    }
}

/// Spaces the batch's Graph calls `1 s / rate` apart.
pub(super) struct Pacer {
    interval: Duration,
    next: Instant,
    stop_at: Instant,
}

impl Pacer {
    fn new(rate_per_second: u32, stop_at: Instant) -> Self {
        Pacer {
            interval: Duration::from_secs(1) / rate_per_second.max(1),
            next: Instant::now(),
            stop_at,
        }
    }

    /// Wait for the next slot; `false` when it falls after the time budget.
    pub(super) async fn slot(&mut self) -> bool {
        let now = Instant::now();
        let at = self.next.max(now);
        if at >= self.stop_at {
            return false;
        }
        if at > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        self.next = at + self.interval;
        true
    }
}

/// Conversations this batch already re-synced (a flagged one may also hold a lease).
type Done = HashSet<(String, String)>;

/// Whether the batch goes on after a step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    Continue,
    Stop,
}

impl Resync {
    /// Re-sync the conversations flagged `needs_resync`, then a rotating slice of the
    /// conversations holding a lease, at most `limits.rate_per_second` Graph calls per
    /// second, until done, out of time, rate limited by Meta, or Meta is down (see
    /// [`MAX_OUTAGES_IN_A_ROW`]).
    pub async fn batch(&self, limits: ResyncLimits) -> ResyncBatchReport {
        let mut progress = BatchProgress {
            pacer: Pacer::new(limits.rate_per_second, limits.stop_at),
            report: ResyncBatchReport::default(),
            outages: OutageStreak::default(),
            limited_pages: HashSet::new(),
        };
        let mut done = Done::new();
        let first = first_flagged_shard(self.now().div_euclid(1000));
        progress.report.first_flagged_shard = first;
        for shard in (0..RESYNC_SHARDS).map(|i| (first + i) % RESYNC_SHARDS) {
            if self.flagged(shard, &limits, &mut progress, &mut done).await == Next::Stop {
                return progress.report;
            }
        }
        self.lease_slice(&limits, &mut progress, &mut done).await;
        progress.report
    }

    /// The flagged conversations of one shard, longest-flagged first.
    async fn flagged(
        &self,
        shard: u32,
        limits: &ResyncLimits,
        progress: &mut BatchProgress,
        done: &mut Done,
    ) -> Next {
        let store = self.records.store();
        let mut cursor: Option<String> = None;
        loop {
            if Instant::now() >= limits.stop_at {
                progress.report.stopped_early = true;
                return Next::Stop;
            }
            let listing = match store
                .flagged_for_resync(shard, FLAGGED_PAGE_SIZE, cursor.as_deref())
                .await
            {
                Ok(listing) => listing,
                Err(err) => {
                    tracing::warn!(shard, error = %err, "listing flagged conversations failed");
                    progress.report.store_unavailable = true;
                    return Next::Continue;
                }
            };
            for record in listing.items {
                if !done.insert((record.page_id.clone(), record.psid.clone()))
                    || progress.defers(&record.page_id)
                {
                    continue;
                }
                progress.report.flagged_examined += 1;
                let (page_id, psid) = (record.page_id.clone(), record.psid.clone());
                if !self.one(&page_id, &psid, Some(record), progress).await {
                    return Next::Stop;
                }
            }
            match listing.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Next::Continue,
            }
        }
    }

    /// A slice of the leases of this run's shard, from a rotating start to the last lease,
    /// then around from the first.
    async fn lease_slice(
        &self,
        limits: &ResyncLimits,
        progress: &mut BatchProgress,
        done: &mut Done,
    ) {
        let now_secs = self.now().div_euclid(1000);
        let horizon = self
            .records
            .config()
            .pages
            .iter()
            .map(PagePolicy::reset_after)
            .fold(META_IDLE_SECS, i64::max);
        let (shard, from) = lease_slice_start(now_secs, horizon);
        progress.report.lease_shard = shard;
        progress.report.lease_slice_from = from;
        let mut remaining = limits.lease_slice;
        for due in [
            from..=EpochSeconds::MAX,
            EpochSeconds::MIN..=from.saturating_sub(1),
        ] {
            let step = self
                .leases_due(shard, due, limits, progress, done, &mut remaining)
                .await;
            if step == Next::Stop {
                return;
            }
        }
    }

    /// Leases of `shard` due within `due`, until `remaining` runs out.
    async fn leases_due(
        &self,
        shard: u32,
        due: std::ops::RangeInclusive<EpochSeconds>,
        limits: &ResyncLimits,
        progress: &mut BatchProgress,
        done: &mut Done,
        remaining: &mut u32,
    ) -> Next {
        let store = self.records.store();
        let mut cursor: Option<String> = None;
        while *remaining > 0 {
            if Instant::now() >= limits.stop_at {
                progress.report.stopped_early = true;
                return Next::Stop;
            }
            let limit = (*remaining).min(MAX_PAGE_SIZE);
            let listing = match store
                .due_leases(shard, due.clone(), limit, cursor.as_deref())
                .await
            {
                Ok(listing) => listing,
                Err(err) => {
                    tracing::warn!(shard, error = %err, "listing leases failed");
                    progress.report.store_unavailable = true;
                    return Next::Stop;
                }
            };
            for lease in listing.items {
                *remaining = remaining.saturating_sub(1);
                if !done.insert((lease.page_id.clone(), lease.psid.clone()))
                    || progress.defers(&lease.page_id)
                {
                    continue;
                }
                progress.report.leases_examined += 1;
                if !self.one(&lease.page_id, &lease.psid, None, progress).await {
                    return Next::Stop;
                }
            }
            match listing.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Next::Continue
    }

    /// One conversation of a batch; `false` when the batch must stop (out of time, or
    /// rate limited).
    async fn one(
        &self,
        page_id: &str,
        psid: &str,
        first: Option<Conversation>,
        progress: &mut BatchProgress,
    ) -> bool {
        let mut calls = 0;
        let result = self
            .run(page_id, psid, first, Some(&mut progress.pacer), &mut calls)
            .await;
        progress.report.graph_calls += u64::from(calls);
        match result {
            Ok(outcome) => {
                progress.outages.answered();
                progress.report.examined += 1;
                if outcome.changed {
                    progress.report.changed += 1;
                } else {
                    progress.report.unchanged += 1;
                }
                true
            }
            Err(ResyncError::OutOfTime) => {
                progress.report.stopped_early = true;
                false
            }
            Err(failure) => self.on_failure(page_id, psid, failure, progress).await,
        }
    }

    /// A re-sync that failed: counted; whether the batch goes on (a Page's own rate limit
    /// stops that Page only; Meta's app-wide limit, or an outage of several re-syncs in a
    /// row, stops the batch).
    async fn on_failure(
        &self,
        page_id: &str,
        psid: &str,
        failure: ResyncError,
        progress: &mut BatchProgress,
    ) -> bool {
        progress.report.examined += 1;
        progress.report.failed += 1;
        match failure {
            ResyncError::Graph { error, .. } if error.is_page_rate_limit() => {
                progress.limited_pages.insert(page_id.to_string());
                progress.report.pages_rate_limited = progress.limited_pages.len() as u64;
                tracing::warn!(page_id, error = %error, "the Page is rate limited by Meta; its re-syncs wait for the next run");
                true
            }
            ResyncError::Graph {
                error: error @ GraphError::RateLimited { .. },
                ..
            } => {
                progress.report.rate_limited = true;
                tracing::warn!(page_id, error = %error, "rate limited by Meta; the batch stops here");
                false
            }
            ResyncError::Graph {
                error: error @ GraphError::Unavailable(_),
                ..
            } => {
                progress.outages.unavailable();
                if progress.outages.is_down() {
                    progress.report.graph_unavailable = true;
                    tracing::warn!(page_id, error = %error, "the Graph API failed {MAX_OUTAGES_IN_A_ROW} re-syncs in a row; the batch stops here");
                    return false;
                }
                tracing::warn!(page_id, error = %error, "re-sync failed; left for the next run");
                true
            }
            failure => {
                tracing::warn!(page_id, error = %failure, "re-sync failed; left for the next run");
                self.to_the_back(page_id, psid).await;
                true
            }
        }
    }

    /// A flagged conversation whose re-sync failed for a reason that will not pass by
    /// itself (a refusal, a Page no longer configured, no app that may ask) goes to the back
    /// of its shard's `resync` index (ordered by `updated_at`): it stays flagged and is tried
    /// again, but the conversations flagged after it go first, so a few that always fail
    /// never take every run's time. Best effort: when this write fails, nothing is lost.
    async fn to_the_back(&self, page_id: &str, psid: &str) {
        let now = self.now();
        let moved = self
            .records
            .update(page_id, psid, |current| {
                if !current.needs_resync || current.version == 0 {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.updated_at = now.max(current.updated_at);
                Some(next)
            })
            .await;
        if let Err(err) = moved {
            tracing::warn!(page_id, error = %err, "could not move a failing re-sync to the back");
        }
    }
}

/// The `resync` index shard a run at `now_secs` starts with: the next one every
/// [`LEASE_ROTATION_SECS`] (the batch's schedule), so every shard comes first in turn.
fn first_flagged_shard(now_secs: EpochSeconds) -> u32 {
    let rotation = now_secs.div_euclid(LEASE_ROTATION_SECS);
    u32::try_from(rotation.rem_euclid(i64::from(RESYNC_SHARDS))).unwrap_or(0)
}

/// The lease shard and the due time this run's lease slice starts from. The shard rotates
/// every [`LEASE_ROTATION_SECS`]; successive visits to one shard start at points of a Weyl
/// sequence (steps of the golden ratio) spread over the next `horizon` seconds, so a shard
/// holding more leases than a slice is covered within a few visits, whatever the leases'
/// due times, and no lease is always passed over.
fn lease_slice_start(now_secs: EpochSeconds, horizon: i64) -> (u32, EpochSeconds) {
    let rotation = now_secs.div_euclid(LEASE_ROTATION_SECS);
    let shards = i64::from(LEASE_SHARDS);
    let shard = u32::try_from(rotation.rem_euclid(shards)).unwrap_or(0);
    let visit = rotation.div_euclid(shards) as u64;
    // The fractional part of visit × φ, in units of 2⁻³².
    let fraction = visit.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let horizon = u64::try_from(horizon.max(1)).unwrap_or(1);
    let offset = i64::try_from((u128::from(fraction) * u128::from(horizon)) >> 32).unwrap_or(0);
    (shard, now_secs.saturating_add(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_slice_rotates_through_shards_and_through_each_shard() {
        let horizon = META_IDLE_SECS;
        let cycle = LEASE_ROTATION_SECS * i64::from(LEASE_SHARDS);
        // Any phase of the clock: the first visit of a shard may fall anywhere in the
        // sequence.
        for first in [0, 1_700_000_000, 1_800_000_123, 4_000_000_000_i64] {
            let first = first - first.rem_euclid(cycle);
            let shards: Vec<u32> = (0..i64::from(LEASE_SHARDS))
                .map(|i| lease_slice_start(first + i * LEASE_ROTATION_SECS + 7, horizon).0)
                .collect();
            assert_eq!(shards, (0..LEASE_SHARDS).collect::<Vec<_>>(), "at {first}");
            // Eight visits of shard 0 start at offsets spread over the horizon: no part of
            // it longer than a quarter is left out, so no lease is always passed over.
            let mut offsets: Vec<i64> = (0..8)
                .map(|visit| {
                    let now = first + visit * cycle;
                    let (shard, from) = lease_slice_start(now, horizon);
                    assert_eq!(shard, 0);
                    let offset = from - now;
                    assert!((0..horizon).contains(&offset), "{offset}");
                    offset
                })
                .collect();
            offsets.sort_unstable();
            let widest = offsets
                .windows(2)
                .map(|w| w[1] - w[0])
                .chain([offsets[0] + horizon - offsets[7]])
                .max()
                .unwrap();
            assert!(
                widest < horizon / 4,
                "offsets {offsets:?} leave {widest} s of {horizon} unvisited (at {first})"
            );
        }
    }

    #[tokio::test]
    async fn the_pacer_spaces_calls_and_respects_the_budget() {
        let stop_at = Instant::now() + Duration::from_secs(60);
        let mut pacer = Pacer::new(1000, stop_at);
        assert!(pacer.slot().await);
        let first = pacer.next;
        assert!(pacer.slot().await);
        assert_eq!(pacer.next - first, Duration::from_millis(1));
        let mut late = Pacer::new(1, Instant::now());
        assert!(!late.slot().await, "no call after the budget");
    }
}
