//! Exponential backoff with jitter: the waits between retries of the record kernel (on a
//! version conflict) and of the Graph client (on a transient error), never synchronised
//! across callers.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Waits that double from `base` up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry `retry` (1 = the second attempt), before jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base.saturating_mul(1_u32 << exponent).min(self.max)
    }

    /// [`Backoff::delay`] with jitter: uniformly between half of it and all of it.
    pub fn jittered(&self, retry: u32) -> Duration {
        let full = self.delay(retry);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        if spread == 0 {
            return full;
        }
        half + Duration::from_nanos(random_u64() % spread.saturating_add(1))
    }
}

/// A pseudo-random number for jitter (std's randomly keyed SipHash over a counter: no
/// extra dependency, good enough to spread retries).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_jitter_below_them() {
        let backoff = Backoff {
            base: Duration::from_millis(4),
            max: Duration::from_millis(256),
        };
        assert_eq!(backoff.delay(1), Duration::from_millis(4));
        assert_eq!(backoff.delay(3), Duration::from_millis(16));
        assert_eq!(backoff.delay(40), Duration::from_millis(256));
        for retry in 1..10 {
            let wait = backoff.jittered(retry);
            assert!(wait >= backoff.delay(retry) / 2 && wait <= backoff.delay(retry));
        }
    }
}
