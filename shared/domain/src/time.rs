//! Time inside the coordinator: epoch milliseconds and seconds, the injectable clock, Meta's
//! timestamps (seconds or milliseconds) normalised to one unit, and RFC 3339 for the HTTP
//! contract.

use chrono::{DateTime, SecondsFormat, Utc};

/// Epoch milliseconds. Every event time inside the coordinator is normalised to this.
pub type EpochMillis = i64;
/// Epoch seconds: DynamoDB TTL attributes and `control_expires_at`.
pub type EpochSeconds = i64;
/// Meta idles a thread after 24 h without activity (docs/architecture.md §11).
pub const META_IDLE_SECS: i64 = 24 * 3600;

/// Source of "now": injectable so rules and tests never depend on the wall clock.
pub trait Clock: Send + Sync {
    fn now_millis(&self) -> EpochMillis;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> EpochMillis {
        Utc::now().timestamp_millis()
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    pub fn at(millis: EpochMillis) -> Self {
        FixedClock(std::sync::atomic::AtomicI64::new(millis))
    }
    pub fn set(&self, millis: EpochMillis) {
        self.0.store(millis, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0
            .fetch_add(secs * 1000, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_millis(&self) -> EpochMillis {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The times an event may carry: from 2004-01-01 up to (not including) 2100-01-01 UTC.
/// Anything else is not a time Meta sends (a hostile or broken body).
pub const PLAUSIBLE_MILLIS: std::ops::Range<EpochMillis> = 1_072_915_200_000..4_102_444_800_000;

/// Timestamps below this are taken to be seconds (it is 2001-09-09 in milliseconds, and
/// year 33658 in seconds).
const SECONDS_THRESHOLD: i64 = 1_000_000_000_000;

/// Meta sends most timestamps in milliseconds but some in seconds: normalise to ms.
pub fn normalise_timestamp(value: i64) -> EpochMillis {
    // `unsigned_abs`: `i64::MIN` has no positive counterpart; the product cannot overflow.
    if value.unsigned_abs() < SECONDS_THRESHOLD.unsigned_abs() {
        value * 1000
    } else {
        value
    }
}

/// A time from input (seconds or milliseconds), when it is a plausible one.
pub fn plausible_time(value: i64) -> Option<EpochMillis> {
    Some(normalise_timestamp(value)).filter(|at| PLAUSIBLE_MILLIS.contains(at))
}

/// An expiry Meta gives in seconds or milliseconds, as epoch seconds (the same rule as
/// [`normalise_timestamp`]); 0 or less, or a time outside [`PLAUSIBLE_MILLIS`], means
/// none.
pub fn normalise_expiry(value: i64) -> Option<EpochSeconds> {
    plausible_time(value).map(|at| at.div_euclid(1000))
}

/// RFC 3339 UTC with milliseconds, as the HTTP contract requires.
pub fn rfc3339_millis(at: EpochMillis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 UTC for an epoch-seconds value.
pub fn rfc3339_secs(at: EpochSeconds) -> String {
    rfc3339_millis(at.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_seconds_become_milliseconds() {
        assert_eq!(normalise_timestamp(1_458_692_752), 1_458_692_752_000);
        assert_eq!(normalise_timestamp(1_458_692_752_478), 1_458_692_752_478);
    }

    #[test]
    fn only_plausible_times_are_times() {
        assert_eq!(plausible_time(1_458_692_752), Some(1_458_692_752_000));
        for hostile in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX, 999_999_999_999] {
            assert_eq!(plausible_time(hostile), None, "{hostile}");
        }
        assert_eq!(normalise_expiry(i64::MIN), None);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(
            rfc3339_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(rfc3339_secs(1_700_000_000), "2023-11-14T22:13:20.000Z");
    }
}
