//! The `flush` handler. Two triggers: the EventBridge `rate(5 minutes)` schedule flushes every
//! org with an enabled S3 export; an SQS flush request (queued when an org passes 1,000
//! pending events) flushes that org early.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use relay_app::destinations::s3_stream::trigger::{handle, MARGIN};
use relay_app::wiring::Wiring;
use serde_json::Value;

/// Builds what this function serves once per cold start, then serves its invocations.
pub async fn run() -> Result<(), Error> {
    let flusher = &Wiring::from_env().await?.flusher();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let until = relay_core::invocation::stop_at(event.context.deadline, MARGIN);
        Ok::<Value, Error>(handle(flusher, event.payload, until).await?)
    }))
    .await
}
