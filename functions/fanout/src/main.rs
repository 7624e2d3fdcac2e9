//! The `fanout` Lambda: the events table's DynamoDB stream → one SQS delivery message per
//! (matching webhook endpoint, event). Reports partial batch failures, so Lambda retries from
//! the first event not fully enqueued.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, LambdaEvent};
use relay_app::delivery::fanout::{handle_stream_event, Fanout};
use relay_app::{clients, telemetry};
use relay_core::Config;
use relay_store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let queue_url = config
        .deliveries_queue_url
        .clone()
        .ok_or("AUDITRELAY_DELIVERIES_QUEUE_URL must be set")?;
    let clients = clients::Clients::from_env().await;
    let settle = relay_app::export::flush::FlushSettings::from_env()
        .settle
        .as_secs();
    let fanout = Fanout::new(
        Store::new(clients.ddb.clone(), &config),
        clients.sqs.clone(),
        queue_url,
    )
    .with_early_flush(config.flush_queue_url.clone(), settle);
    let fanout = &fanout;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(handle_stream_event(fanout, event.payload).await)
    }))
    .await
}
