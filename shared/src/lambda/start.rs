//! The start-up the five functions share: the system's CA bundle chosen before any thread
//! starts, one Tokio runtime, the settings read from the environment, tracing installed;
//! then the function's own `serve`, which builds its clients once and runs.

use std::future::Future;

use lambda_http::Error;

use crate::settings::FunctionSettings;

/// Start a function: `serve` gets its settings (of type `S`) and runs the Lambda loop.
pub fn start<S, F, Fut>(serve: F) -> Result<(), Error>
where
    S: FunctionSettings,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    // Before any thread starts (it may set SSL_CERT_FILE).
    crate::tls::prefer_system_bundle();
    tokio::runtime::Runtime::new()?.block_on(async {
        let settings = S::from_env()?;
        crate::telemetry::init_with(settings.log_filter(), settings.in_lambda());
        serve(settings).await
    })
}
