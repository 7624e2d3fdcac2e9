//! The `flush` Lambda. Two triggers: the EventBridge `rate(5 minutes)` schedule flushes every
//! org with an enabled S3 export; an SQS flush request (queued when an org passes 1,000
//! pending events) flushes that org early.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use relay_app::export::flush::{FlushSettings, Flusher};
use relay_app::{clients, telemetry};
use relay_core::Config;
use serde_json::Value;

/// Stop starting new batches this long before the invocation's deadline.
const MARGIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let clients = clients::Clients::from_env().await;
    let flusher = Flusher::from_config(&config, &clients, FlushSettings::from_env());
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let flusher = &flusher;
        async move {
            let until = relay_core::invocation::stop_at(event.context.deadline, MARGIN);
            Ok::<Value, Error>(
                relay_app::export::trigger::handle(flusher, event.payload, until).await?,
            )
        }
    }))
    .await
}
