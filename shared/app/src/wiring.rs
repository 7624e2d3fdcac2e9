//! The one wiring: every pipeline the deployed functions and `auditctl serve` run is built
//! here, from the settings and the clients, once per cold start. A function's `main` picks the
//! pipeline it serves; `auditctl serve` builds all of them from the same calls, so local and
//! deployed cannot drift apart.

use crate::clients::Clients;
use crate::deliver::Deliverer;
use crate::destinations::export_job::run::ExportRunner;
use crate::destinations::s3_stream::flush::{FlushSettings, Flusher};
use crate::fanout::Fanout;
use crate::integrity::digests::DigestWriter;
use crate::integrity::signer::Signer;
use crate::pipeline::bucket::Buckets;
use crate::pipeline::consumer::DeliverySettings;
use crate::pipeline::http_client::{ClientBuildError, WebhookClient};
use crate::pipeline::pause::Notifier;
use crate::pipeline::ssrf::SsrfPolicy;
use crate::summary::stream::Summarizer;
use relay_core::config::{Config, ConfigError};
use relay_store::sealing::Sealer;
use relay_store::Store;

/// Why a pipeline could not be built at cold start.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// A setting is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting this pipeline needs is not set.
    #[error("environment variable {0} must be set")]
    Missing(&'static str),
    /// The outbound HTTP client could not be built.
    #[error(transparent)]
    HttpClient(#[from] ClientBuildError),
}

/// The settings and clients of one process, and the pipelines built from them.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// The settings, read once.
    pub config: Config,
    /// The AWS clients, built once.
    pub clients: Clients,
    /// Seals and opens the stored webhook secrets and OTLP header values under the
    /// credentials key; one per process, so every store shares its cache of data keys.
    sealer: Sealer,
}

impl Wiring {
    /// Starts logging, reads every setting (failing on a bad one, naming it) and builds the
    /// clients: what each function does first on a cold start.
    pub async fn from_env() -> Result<Self, WiringError> {
        crate::telemetry::init();
        let config = Config::from_env()?;
        Ok(Wiring::new(config, Clients::from_env().await))
    }

    /// A wiring over given settings and clients (`auditctl serve` fills in local queue URLs).
    pub fn new(config: Config, clients: Clients) -> Self {
        let sealer = Sealer::new(clients.kms.clone(), config.credentials_key_id.clone());
        Wiring {
            config,
            clients,
            sealer,
        }
    }

    /// The store over the configured tables, sealing secrets with the process's sealer.
    pub fn store(&self) -> Store {
        Store::new(self.clients.ddb.clone(), &self.config).with_sealer(self.sealer.clone())
    }

    /// The sealer every store of this wiring shares (its KMS call count is measured in tests).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    fn deliveries_queue(&self) -> Result<String, WiringError> {
        self.config
            .deliveries_queue_url
            .clone()
            .ok_or(WiringError::Missing("AUDITRELAY_DELIVERIES_QUEUE_URL"))
    }

    /// The stream fanout: delivery messages and, when the flush queue is configured,
    /// early-flush requests.
    pub fn fanout(&self) -> Result<Fanout, WiringError> {
        let settle = FlushSettings::from_config(&self.config).settle.as_secs();
        Ok(Fanout::new(
            self.store(),
            self.clients.sqs.clone(),
            self.deliveries_queue()?,
        )
        .with_early_flush(self.config.flush_queue_url.clone(), settle)
        .with_slow_lane(self.config.slow_deliveries_queue_url.clone()))
    }

    /// The stream's other consumer: the summary counters.
    pub fn summarizer(&self) -> Summarizer {
        Summarizer::new(self.store())
    }

    /// The one outbound HTTP client for webhooks and OTLP (deliveries and the API's tests),
    /// behind the SSRF guard as configured, signing under the configured header name.
    pub fn webhook_client(&self) -> Result<WebhookClient, ClientBuildError> {
        Ok(
            WebhookClient::new(SsrfPolicy::new(self.config.allow_private_destinations))?
                .with_signature_header(self.config.signature_header.clone()),
        )
    }

    /// The webhook and OTLP deliverer, of both lanes when the slow lane's queue is configured.
    pub fn deliverer(&self) -> Result<Deliverer, WiringError> {
        self.deliverer_with(DeliverySettings::from_config(&self.config))
    }

    /// The deliverer with other settings (`auditctl serve --delivery-lease`).
    pub fn deliverer_with(&self, settings: DeliverySettings) -> Result<Deliverer, WiringError> {
        Ok(Deliverer::with_lanes(
            self.store(),
            self.clients.sqs.clone(),
            self.deliveries_queue()?,
            self.config.slow_deliveries_queue_url.clone(),
            self.webhook_client()?,
            self.notifier(),
            settings,
        ))
    }

    /// Customers' buckets, as configured (access role, endpoint policy, credentials key).
    pub fn buckets(&self) -> Buckets {
        Buckets::from_config(&self.config, &self.clients)
    }

    /// The S3 flush.
    pub fn flusher(&self) -> Flusher {
        Flusher::from_config(
            &self.config,
            &self.clients,
            FlushSettings::from_config(&self.config),
        )
    }

    /// The export-job runner.
    pub fn export_runner(&self) -> ExportRunner {
        ExportRunner::from_config(&self.config, &self.clients)
    }

    /// The signer of digests and manifests (off when no signing key is configured).
    pub fn signer(&self) -> Signer {
        Signer::new(
            self.clients.kms.clone(),
            self.config.signing_key_id.clone(),
            self.store(),
        )
    }

    /// The writer of the continuous export's integrity digests.
    pub fn digest_writer(&self) -> DigestWriter {
        DigestWriter::new(
            self.store(),
            self.buckets(),
            self.signer(),
            self.config.digest_period,
        )
    }

    /// Notifications to the operators' topic (only logged when none is configured).
    pub fn notifier(&self) -> Notifier {
        Notifier::new(
            self.clients.sns.clone(),
            self.config.notify_topic_arn.clone(),
        )
    }
}
