//! Logging: JSON lines in Lambda (CloudWatch), compact text locally; level from the
//! settings' `RUST_LOG`. Never log secrets, tokens or message text: log ids, kinds and
//! counts.

use tracing_subscriber::EnvFilter;

use crate::settings::Settings;

/// Install the global subscriber once, at start-up.
pub fn init(settings: &Settings) {
    let filter = (settings.log_filter.as_deref())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if settings.in_lambda() {
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
