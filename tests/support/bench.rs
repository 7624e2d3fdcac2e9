//! What the end-to-end bench binaries (`tests/examples/*_bench.rs`) share: a fresh org with
//! tables and a bucket in moto, a bulk loader that writes events as the API would have stored
//! them, and the process's peak memory.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};
use relay_app::clients::Clients;
use relay_app::ingest::validate_body;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::Org;
use relay_core::Config;
use relay_store::{events::event_item, schema, Store};
use serde_json::Value;
use time::OffsetDateTime;

/// A bench's world: its own tables, one org and one bucket.
pub struct BenchWorld {
    /// Clients against moto.
    pub clients: Clients,
    /// The tables' names.
    pub config: Config,
    /// The store over them.
    pub store: Store,
    /// The org the events belong to.
    pub org: Org,
    /// The destination bucket (created).
    pub bucket: String,
}

impl BenchWorld {
    /// Creates tables named `{name}{ulid}`, an org created at `now` and a bucket `{name}-{ulid}`.
    pub async fn new(name: &str, now: OffsetDateTime) -> Result<Self, Box<dyn std::error::Error>> {
        let clients = Clients::from_env().await;
        let unique = ulid::Ulid::new().to_string().to_lowercase();
        let config = Config::with_prefix(&format!("{name}{unique}"));
        schema::ensure_table(&clients.ddb, &config.events_table, &schema::events_table()).await?;
        schema::ensure_table(&clients.ddb, &config.config_table, &schema::config_table()).await?;
        let store = Store::new(clients.ddb.clone(), &config);
        let org = store
            .create_org("Bench", None, None, &rfc3339_millis(now))
            .await?;
        let bucket = format!("{name}-{unique}");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&clients.sdk)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(&bucket).send().await?;
        Ok(BenchWorld {
            clients,
            config,
            store,
            org,
            bucket,
        })
    }

    /// Writes events `0..n` (`body(i)` validated as the API would, received at `now`) straight
    /// into the events table with BatchWriteItem, eight batches of 25 at a time.
    /// The bench bucket as a destination, through a role (moto does not check it).
    pub fn target(&self) -> relay_core::model::bucket::BucketTarget {
        relay_core::model::bucket::BucketTarget {
            store: relay_core::model::bucket::StoreType::S3,
            bucket: self.bucket.clone(),
            region: "us-east-1".into(),
            prefix: "audit-logs".into(),
            access: relay_core::model::bucket::Access::Role(
                "arn:aws:iam::123456789012:role/bench".into(),
            ),
            endpoint_url: None,
            force_path_style: false,
            account_name: None,
        }
    }

    /// Buckets as this world reaches them.
    pub fn buckets(&self) -> relay_app::pipeline::bucket::Buckets {
        relay_app::pipeline::bucket::Buckets::from_config(&self.config, &self.clients)
    }

    pub async fn load(&self, n: usize, now: OffsetDateTime, body: impl Fn(usize) -> Value) {
        let table = &self.config.events_table;
        // Built lazily, batch by batch: the loader holds only the batches in flight, so the
        // process's memory before a measured phase is the service's, not the fixture's.
        let chunks = (0..n).step_by(25).map(|first| {
            (first..(first + 25).min(n))
                .map(|i| {
                    let ev = validate_body(body(i), &self.org, now)
                        .expect("valid")
                        .remove(0);
                    let put = PutRequest::builder()
                        .set_item(Some(event_item(&self.org.org_id, &ev, 0)))
                        .build()
                        .expect("put");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect::<Vec<_>>()
        });
        stream::iter(chunks)
            .map(|reqs| async move {
                let mut pending = Some(reqs);
                while let Some(r) = pending.take() {
                    let out = self
                        .store
                        .client()
                        .batch_write_item()
                        .request_items(table, r)
                        .send()
                        .await
                        .expect("batch write");
                    pending = out
                        .unprocessed_items()
                        .and_then(|m| m.get(table))
                        .filter(|v| !v.is_empty())
                        .cloned();
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    }
}

/// This process's resident memory now (VmRSS), in MiB.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Starts a new peak: the kernel resets VmHWM to the current RSS (`/proc/self/clear_refs`,
/// value 5), so [`peak_rss_mib`] afterwards is the peak of what ran since. `false` where the
/// kernel refuses.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// This process's peak resident memory (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
