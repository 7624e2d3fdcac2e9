//! The `deliver` Lambda: SQS deliveries queue → signed webhook POSTs. Failed messages get the
//! retry schedule's delay as their visibility timeout and are reported as batch item failures;
//! after the last attempt the queue's redrive policy moves them to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use relay_app::delivery::deliver::{handle_sqs_event, Deliverer, DeliverySettings};
use relay_app::delivery::http_client::WebhookClient;
use relay_app::delivery::ssrf::SsrfPolicy;
use relay_app::notify::Notifier;
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
    let settings = DeliverySettings::from_env()?;
    let clients = clients::Clients::from_env().await;
    let deliverer = Deliverer::new(
        Store::new(clients.ddb.clone(), &config),
        clients.sqs.clone(),
        queue_url,
        WebhookClient::new(SsrfPolicy::new(config.allow_private_destinations))?,
        Notifier::new(clients.sns.clone(), config.notify_topic_arn.clone()),
        settings,
    );
    let deliverer = &deliverer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_sqs_event(deliverer, event.payload).await)
    }))
    .await
}
