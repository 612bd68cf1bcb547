//! Why an invocation of a scheduled or stream-triggered function failed, and the one
//! mapping of that to Lambda's `Diagnostic`: the error type says whether a retry can help
//! (`Retryable.*`) or not (`NonRetryable.*`).

use lambda_http::lambda_runtime::Diagnostic;
use routing_usecases::timed_reset::ResetError;

/// A failed invocation of timed-reset, resync or event-publisher.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The event is not one the function understands: retrying cannot help.
    #[error("unrecognised event: {0}")]
    BadEvent(String),
    /// A reset failed (retryable unless it is permanent).
    #[error(transparent)]
    Reset(#[from] ResetError),
    /// Storage is unavailable for now.
    #[error("storage is unavailable: {0}")]
    StoreUnavailable(String),
}

impl InvocationError {
    /// The Lambda error type reported for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvocationError::BadEvent(_) => "NonRetryable.BadEvent",
            InvocationError::StoreUnavailable(_) => "Retryable.StoreUnavailable",
            InvocationError::Reset(ResetError::GraphUnavailable(_)) => "Retryable.GraphUnavailable",
            InvocationError::Reset(ResetError::RateLimited(_) | ResetError::PageRateLimited(_)) => {
                "Retryable.RateLimited"
            }
            InvocationError::Reset(ResetError::StoreUnavailable(_)) => "Retryable.StoreUnavailable",
            InvocationError::Reset(ResetError::Permanent(_)) => "NonRetryable.Permanent",
        }
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(err: InvocationError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_string(),
            error_message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_permanent_faults_and_bad_events_are_not_worth_a_retry() {
        let retryable = [
            InvocationError::StoreUnavailable("x".into()),
            ResetError::GraphUnavailable("x".into()).into(),
            ResetError::RateLimited("x".into()).into(),
            ResetError::PageRateLimited("x".into()).into(),
            ResetError::StoreUnavailable("x".into()).into(),
        ];
        for err in retryable {
            assert!(err.error_type().starts_with("Retryable."), "{err:?}");
        }
        let final_ = [
            InvocationError::BadEvent("x".into()),
            ResetError::Permanent("x".into()).into(),
        ];
        for err in final_ {
            let diagnostic = Diagnostic::from(err);
            assert!(diagnostic.error_type.starts_with("NonRetryable."));
        }
    }
}
