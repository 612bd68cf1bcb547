//! Logging: JSON lines in Lambda (CloudWatch), compact text locally; level from `RUST_LOG`.
//! Never log secrets, tokens or message text: log ids, kinds and counts.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber once, at start-up.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if in_lambda {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}
