//! The `export` Lambda: the export-jobs queue (batch size 1) → JSONL/CSV files in the
//! customer's bucket through their role. A job that does not finish before the deadline puts
//! itself back on the queue and continues from its last file in the next invocation.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use relay_app::export_job::run::ExportRunner;
use relay_app::{clients, telemetry};
use relay_core::Config;

/// Stop starting new files this long before the invocation's deadline.
const MARGIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let clients = clients::Clients::from_env().await;
    let runner = ExportRunner::from_config(&config, &clients);
    let runner = &runner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let until = relay_core::invocation::stop_at(event.context.deadline, MARGIN);
        Ok::<_, lambda_runtime::Error>(
            relay_app::export_job::trigger::handle(runner, event.payload, until).await,
        )
    }))
    .await
}
