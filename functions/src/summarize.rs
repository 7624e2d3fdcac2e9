//! The `summarize` handler: the events table's DynamoDB stream → the summary counters, exactly
//! once, on an event source mapping of its own, so that counting never holds back delivery.
//! Reports partial batch failures, so Lambda retries from the first event not counted.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use relay_app::summary::stream::handle_stream_event;
use relay_app::wiring::Wiring;

/// Builds what this function serves once per cold start, then serves its invocations.
pub async fn run() -> Result<(), Error> {
    let summarizer = &Wiring::from_env().await?.summarizer();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle_stream_event(summarizer, event.payload).await)
    }))
    .await
}
