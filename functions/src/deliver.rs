//! The `deliver` handler: SQS deliveries queue → signed webhook POSTs and OTLP requests. Failed
//! messages get the retry schedule's delay as their visibility timeout and are reported as
//! batch item failures; after the last attempt the redrive policy moves them to the DLQ.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use relay_app::deliver::handle_sqs_event;
use relay_app::wiring::Wiring;

/// Builds what this function serves once per cold start, then serves its invocations.
pub async fn run() -> Result<(), Error> {
    let deliverer = &Wiring::from_env().await?.deliverer()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle_sqs_event(deliverer, event.payload).await)
    }))
    .await
}
