//! The smallest `lambda_runtime` function: answers every event with `{}`. The init probe
//! (`scripts/init-time`) builds it with the functions, in the same profile, and measures
//! the functions' start-up against it.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({}))
    }))
    .await
}
