//! Logging: JSON lines in Lambda (CloudWatch), compact text locally; level from the
//! settings' `RUST_LOG`. Never log secrets, tokens or message text: log ids, kinds and
//! counts.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

use crate::settings::Settings;

/// The filter `RUST_LOG` names: a level (`info`), targets with levels
/// (`warn,routing_core=debug`), or both; anything else is `info`. (`Targets`, not
/// `EnvFilter`: no span or field filters, and no regular-expression engine in the
/// binaries.)
pub fn filter(directives: Option<&str>) -> Targets {
    directives
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Install the global subscriber once, at start-up.
pub fn init(settings: &Settings) {
    init_with(settings.log_filter.as_deref(), settings.in_lambda());
}

/// [`init`] for a function without the common settings (the event publisher): the log
/// filter, and JSON lines (in Lambda) or compact text.
pub fn init_with(log_filter: Option<&str>, json: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = filter(log_filter);
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_target(false);
    let result = if json {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.compact().finish().with(filter).try_init()
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_names_levels_and_targets_and_falls_back_to_info() {
        let default = filter(None);
        assert!(default.would_enable("routing_core", &tracing::Level::INFO));
        assert!(!default.would_enable("routing_core", &tracing::Level::DEBUG));
        let targeted = filter(Some("warn,routing_usecases=debug"));
        assert!(targeted.would_enable("routing_usecases::ingest", &tracing::Level::DEBUG));
        assert!(!targeted.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
        assert!(targeted.would_enable("aws_smithy_runtime", &tracing::Level::WARN));
        let invalid = filter(Some("[span{field=1}]=trace"));
        assert!(!invalid.would_enable("routing_core", &tracing::Level::TRACE));
        assert!(invalid.would_enable("routing_core", &tracing::Level::INFO));
    }
}
