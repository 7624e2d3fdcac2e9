//! The `export` handler: the export-jobs queue (batch size 1) → JSONL/CSV files in the
//! customer's bucket through their role. A job that does not finish before the deadline puts
//! itself back on the queue and continues from its last file in the next invocation.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use relay_app::destinations::export_job::trigger::{handle, MARGIN};
use relay_app::wiring::Wiring;

/// Builds what this function serves once per cold start, then serves its invocations.
pub async fn run() -> Result<(), Error> {
    let runner = &Wiring::from_env().await?.export_runner();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let until = relay_core::invocation::stop_at(event.context.deadline, MARGIN);
        Ok::<_, Error>(handle(runner, event.payload, until).await)
    }))
    .await
}
