//! Timeouts and retries of the Graph client: which failed attempts may be repeated inside
//! one call.

use std::time::Duration;

use routing_usecases::backoff::Backoff;
use routing_usecases::ports::GraphError;

/// Whether a call may be repeated after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Repeat {
    /// A read (`thread_owner`): repeating it changes nothing.
    Always,
    /// A request that changes something (thread control, the Send API): repeated only when
    /// it provably never reached Meta (the connection could not be made).
    OnlyUnsent,
}

/// One failed attempt: Meta's error or the transport's, and whether the request may have
/// reached Meta.
#[derive(Debug)]
pub(super) struct FailedAttempt {
    pub(super) error: GraphError,
    pub(super) may_have_reached_meta: bool,
}

impl FailedAttempt {
    /// Worth another attempt inside the call: an outage of a read, or of a request that
    /// never left. Rate limits are never retried inside the call.
    pub(super) fn may_retry(&self, repeat: Repeat) -> bool {
        matches!(self.error, GraphError::Unavailable(_))
            && (repeat == Repeat::Always || !self.may_have_reached_meta)
    }

    /// The call's error: an outage of a request that may have reached Meta has an unknown
    /// outcome.
    pub(super) fn into_error(self, repeat: Repeat) -> GraphError {
        match self.error {
            GraphError::Unavailable(text)
                if repeat == Repeat::OnlyUnsent && self.may_have_reached_meta =>
            {
                GraphError::OutcomeUnknown(text)
            }
            other => other,
        }
    }
}

/// Timeouts and retries of [`GraphClient`](super::GraphClient).
///
/// Only outages are retried: of reads (5xx, timeouts, connection failures), and of requests
/// that change something only when they never reached Meta (the connection failed); a
/// request that may have reached Meta is never repeated (its error is
/// [`GraphError::OutcomeUnknown`]), and rate limits are not retried inside a call. At most
/// `max_attempts` calls in all, waiting `base_delay * 2^(n-1)` (capped at `max_delay`)
/// with jitter (between half and all of it) before retry `n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included (0 is treated as 1).
    pub max_attempts: u32,
    /// The wait before the first retry (before jitter).
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Connect timeout of each attempt.
    pub connect_timeout: Duration,
    /// Total timeout of each attempt (connect, send, whole answer).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The default attempts and timeouts with millisecond waits between attempts (tests).
    pub fn fast() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    /// The same policy with another number of attempts.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The same policy with other per-attempt timeouts.
    pub fn with_timeouts(mut self, connect_timeout: Duration, request_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self.request_timeout = request_timeout;
        self
    }

    /// The wait before retry `retry` (1 = the second attempt), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.waits().delay(retry)
    }

    /// [`RetryPolicy::backoff`] with jitter: uniformly between half of it and all of it.
    pub(super) fn jittered_backoff(&self, retry: u32) -> Duration {
        self.waits().jittered(retry)
    }

    fn waits(&self) -> Backoff {
        Backoff {
            base: self.base_delay,
            max: self.max_delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(200));
        assert_eq!(policy.backoff(2), Duration::from_millis(400));
        assert_eq!(policy.backoff(10), Duration::from_secs(2));
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(2));
        for retry in 1..6 {
            let delay = policy.jittered_backoff(retry);
            assert!(delay >= policy.backoff(retry) / 2 && delay <= policy.backoff(retry));
        }
    }
}
