//! The `deliver` function's logic: process one SQS batch of delivery messages concurrently (so
//! one slow receiver does not hold up the others), each message idempotently, each by the
//! destination its `kind` names: webhooks ([`WebhookDeliverer`]) and OTLP
//! ([`OtelDeliverer`]). What they share is [`crate::pipeline::consumer`].

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::join_all;

use crate::class_overrides::ShapeContexts;
use crate::destinations::otlp::deliver::OtelDeliverer;
use crate::destinations::webhook::deliver::WebhookDeliverer;
use crate::pipeline::consumer::{change_visibility, DeliverySettings, Disposition, Received};
use crate::pipeline::http_client::WebhookClient;
use crate::pipeline::message::{DeliveryMessage, DestinationKind, Envelope, OtelMessage};
use crate::pipeline::pause::Notifier;
use crate::pipeline::sqs_batch;
use relay_core::model::ids::{EndpointId, OrgId};
use relay_store::Store;

/// Processes deliveries; built once per cold start.
#[derive(Debug, Clone)]
pub struct Deliverer {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    settings: DeliverySettings,
    webhook: WebhookDeliverer,
    otel: OtelDeliverer,
}

/// A message body, decoded by its `kind`.
#[derive(Debug)]
enum Parsed {
    Webhook(DeliveryMessage),
    Otel(OtelMessage),
}

fn parse(m: &Received) -> Option<Parsed> {
    let decoded = serde_json::from_str::<Envelope>(&m.body).and_then(|env| match env.kind {
        DestinationKind::Webhook => serde_json::from_str(&m.body).map(Parsed::Webhook),
        DestinationKind::Otel => serde_json::from_str(&m.body).map(Parsed::Otel),
    });
    match decoded {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(message_id = %m.message_id, error = %e,
                "undecodable delivery message; it will go to the dead-letter queue");
            None
        }
    }
}

impl Deliverer {
    /// A deliverer for the messages of `queue_url`.
    pub fn new(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        client: WebhookClient,
        notifier: Notifier,
        settings: DeliverySettings,
    ) -> Self {
        let shapes = ShapeContexts::new(store.clone());
        let otel = OtelDeliverer::new(
            store.clone(),
            sqs.clone(),
            queue_url.clone(),
            client.clone(),
            notifier.clone(),
            settings.clone(),
            shapes.clone(),
        );
        let webhook = WebhookDeliverer::new(
            store,
            sqs.clone(),
            queue_url.clone(),
            client,
            notifier,
            settings.clone(),
            shapes,
        );
        Deliverer {
            sqs,
            queue_url,
            settings,
            webhook,
            otel,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Processes a batch concurrently; returns each message's disposition, in input order.
    pub async fn process_batch(&self, messages: &[Received]) -> Vec<Disposition> {
        let parsed: Vec<Option<Parsed>> = messages.iter().map(parse).collect();
        let keys: Vec<(OrgId, EndpointId)> = parsed
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Parsed::Webhook(d) => Some((d.org_id.clone(), d.endpoint_id.clone())),
                Parsed::Otel(_) => None,
            })
            .collect();
        let otel_orgs: Vec<&OrgId> = parsed
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Parsed::Otel(o) => Some(&o.org_id),
                Parsed::Webhook(_) => None,
            })
            .collect();
        let (cache, otel_configs) = tokio::join!(self.webhook.load(keys), async {
            if otel_orgs.is_empty() {
                Default::default()
            } else {
                self.otel.load_configs(&otel_orgs).await
            }
        });
        join_all(messages.iter().zip(&parsed).map(|(m, p)| async {
            match p {
                Some(Parsed::Otel(o)) => self.otel.process(m, o, &otel_configs).await,
                Some(Parsed::Webhook(d)) => self.webhook.process(m, d, &cache).await,
                None => {
                    // Undecodable: it cannot succeed, so let it reach the DLQ for inspection
                    // quickly.
                    change_visibility(&self.sqs, &self.queue_url, m, Duration::ZERO).await;
                    Disposition::Retry
                }
            }
        }))
        .await
    }
}

/// The `deliver` Lambda's handler: an SQS event in, the batch item failures out.
pub async fn handle_sqs_event(deliverer: &Deliverer, event: SqsEvent) -> SqsBatchResponse {
    let mut received = Vec::with_capacity(event.records.len());
    for r in event.records {
        let (Some(message_id), Some(receipt_handle)) = (r.message_id, r.receipt_handle) else {
            tracing::error!("SQS record without message id or receipt handle");
            continue;
        };
        let receive_count = r
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        received.push(Received {
            message_id,
            receipt_handle,
            body: r.body.unwrap_or_default(),
            receive_count,
        });
    }
    let dispositions = deliverer.process_batch(&received).await;
    sqs_batch::response(
        received
            .into_iter()
            .zip(dispositions)
            .filter(|(_, d)| *d == Disposition::Retry)
            .map(|(m, _)| m.message_id),
    )
}
