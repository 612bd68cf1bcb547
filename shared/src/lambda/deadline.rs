//! Scheduled runs' deadlines: when the sweep or the re-sync batch stops starting new work.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a scheduled run may work when the invocation carries no usable deadline
/// (local runners may send none).
pub const UNKNOWN_DEADLINE_BUDGET: Duration = Duration::from_secs(60);
/// A deadline before this (2001-09-09, 10^12 epoch ms) is not a time at all.
const NOT_BEFORE_MS: u64 = 1_000_000_000_000;
/// A scheduled run starts no new work this long before its deadline (or a third of the
/// remaining time, when that is shorter).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// When a scheduled run (the sweep, the re-sync batch) stops starting new work, given the
/// invocation's deadline in epoch milliseconds: before the deadline by
/// [`DEADLINE_MARGIN`], so the rest is left for the next run and never cut off mid-way.
pub fn work_until(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    if remaining < Duration::from_secs(1) {
        if deadline_ms < NOT_BEFORE_MS {
            // Not a time: Lambda always sends epoch milliseconds; a local runner may send
            // none, or a duration (`cargo lambda watch` sends 600000).
            tracing::debug!(
                deadline_ms,
                "the invocation carries no deadline; working for at most 60 s"
            );
        } else {
            tracing::warn!(
                deadline_ms,
                now_ms,
                "the invocation's deadline has passed or is too close; working for at most 60 s"
            );
        }
        remaining = UNKNOWN_DEADLINE_BUDGET;
    }
    Instant::now() + remaining - DEADLINE_MARGIN.min(remaining / 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_ms(from_now: Duration) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        (now + from_now).as_millis() as u64
    }

    #[test]
    fn scheduled_runs_stop_before_their_deadline() {
        let now = Instant::now();
        // A minute left: stop 10 s before the deadline.
        let stop = work_until(in_ms(Duration::from_secs(60)));
        assert!(stop > now + Duration::from_secs(45) && stop <= now + Duration::from_secs(51));
        // 6 s left: keep a third as the margin.
        let stop = work_until(in_ms(Duration::from_secs(6)));
        assert!(stop > now + Duration::from_secs(3) && stop <= now + Duration::from_secs(5));
        // No usable deadline (past, or none sent): the default budget, less the margin.
        let stop = work_until(0);
        assert!(stop > now + Duration::from_secs(45) && stop <= now + Duration::from_secs(51));
    }
}
