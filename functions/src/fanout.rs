//! The `fanout` handler: the events table's DynamoDB stream → delivery messages, summary
//! counters and early-flush requests. Reports partial batch failures, so Lambda retries from
//! the first event not fully handled.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use relay_app::fanout::handle_stream_event;
use relay_app::wiring::Wiring;

/// Builds what this function serves once per cold start, then serves its invocations.
pub async fn run() -> Result<(), Error> {
    let fanout = &Wiring::from_env().await?.fanout()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle_stream_event(fanout, event.payload).await)
    }))
    .await
}
