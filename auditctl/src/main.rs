//! `auditctl`: the operator's CLI. It talks to the same tables and queues as the functions,
//! configured by the same environment (`AWS_*`, `AUDITRELAY_*`).

mod integrity;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use relay_app::destinations::export_job::local::{ExportPoller, LOCAL_BUDGET};
use relay_app::destinations::s3_stream::flush::{FlushOutcome, FlushSettings, Flusher};
use relay_app::destinations::s3_stream::local::FlushRequestPoller;
use relay_app::local::{run_delivery_pools, StreamConsumer, StreamPoller};
use relay_app::pipeline::consumer::{DeliverySettings, DELIVERY_LEASE};
use relay_app::pipeline::queues;
use relay_app::wiring::Wiring;
use relay_app::{clients, telemetry};
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::{KeyId, OrgId};
use relay_core::model::{Role, Scope};
use relay_core::Config;
use relay_store::schema;
use relay_store::Store;
use serde_json::json;

/// Name of the deliveries queue when `AUDITRELAY_DELIVERIES_QUEUE_URL` does not name one
/// (its DLQ is `{name}-dlq`).
const DEFAULT_QUEUE: &str = "auditrelay-deliveries";
/// Name of the notification topic when `AUDITRELAY_NOTIFY_TOPIC_ARN` does not name one.
const DEFAULT_TOPIC: &str = "auditrelay-notifications";
/// Alias of the local key that seals stored credentials when `AUDITRELAY_CREDENTIALS_KEY_ID`
/// names none.
const CREDENTIALS_KEY_ALIAS: &str = "alias/auditrelay-credentials";
/// Alias of the local key that signs digests and manifests when `AUDITRELAY_SIGNING_KEY_ID`
/// names none.
const SIGNING_KEY_ALIAS: &str = "alias/auditrelay-signing";

#[derive(Parser)]
#[command(name = "auditctl", version, about = "Operate an AuditRelay deployment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create every table, index, stream, queue and topic the stack uses (idempotent).
    Provision,
    /// Manage orgs.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Run the whole service locally with the very code the Lambdas run, built by the same
    /// wiring: the HTTP API, the fanout and the summary counters (each polling the events
    /// table's stream), the deliver consumer (polling the deliveries queues), export jobs,
    /// early-flush requests and the S3 flush on its schedule.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Seconds between scheduled S3 flushes (the deployed schedule is 300); 0 disables.
        #[arg(long, default_value_t = 300)]
        flush_interval: u64,
        /// Seconds an S3 flush holds its org's lease (the deployed value is 900). A killed
        /// `serve` blocks that org's flushes this long; the crash tests shorten it.
        #[arg(long, default_value_t = 900)]
        flush_lease: u64,
        /// Seconds an export job may run per local invocation before it continues in the
        /// next (the deployed value is 840); its lease outlasts this by the smaller of 60 s
        /// and the budget, so a killed `serve` blocks the job that long.
        #[arg(long, default_value_t = LOCAL_BUDGET.as_secs())]
        export_budget: u64,
        /// Seconds a claimed delivery is reserved for its sender (the deployed value is 60).
        /// It must outlast an HTTP attempt (15 s); a killed `serve` holds the deliveries it had
        /// claimed this long, so the crash tests shorten it.
        #[arg(long, default_value_t = DELIVERY_LEASE.as_secs(),
              value_parser = clap::value_parser!(u64).range(20..))]
        delivery_lease: u64,
    },
    /// Run one S3 export flush now (every enabled org, or one), as the schedule would.
    Flush {
        /// Only this org.
        #[arg(long)]
        org: Option<OrgId>,
    },
    /// Write every integrity digest that is due (every org with an enabled continuous export,
    /// or one), as the flush does after each run.
    Digest {
        /// Only this org.
        #[arg(long)]
        org: Option<OrgId>,
    },
    /// Verify a copy of a destination (or the bucket itself) against its signed digests,
    /// offline: hashes, signatures, the chain, missing and added files, event counts. Exits
    /// non-zero on any finding.
    Verify(integrity::VerifyArgs),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an org; prints JSON with `org_id`.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The platform's own id for this customer (events carry it as tenant_id).
        #[arg(long)]
        tenant_id: Option<String>,
        /// Days events are kept (default 365).
        #[arg(long)]
        retention_days: Option<u32>,
    },
    /// Show an org as JSON.
    Show {
        /// The org id.
        org_id: OrgId,
    },
    /// Show or change an org's rate limits and replay budget (every instance applies a change
    /// within 30 s).
    Limits {
        #[command(subcommand)]
        command: LimitsCommand,
    },
}

#[derive(Subcommand)]
enum LimitsCommand {
    /// Print the org's overrides and the limits in force for it, as JSON.
    Show {
        /// The org id.
        org_id: OrgId,
    },
    /// Override some of the org's limits (requests per window; replayed messages per hour);
    /// the limits not named keep their current value.
    Set {
        /// The org id.
        org_id: OrgId,
        #[command(flatten)]
        values: LimitArgs,
    },
    /// Remove the org's overrides: the defaults apply again.
    Clear {
        /// The org id.
        org_id: OrgId,
    },
}

#[derive(clap::Args)]
struct LimitArgs {
    /// Ingest requests per key per window.
    #[arg(long)]
    ingest_per_key: Option<u64>,
    /// Ingest requests per org per window.
    #[arg(long)]
    ingest_per_org: Option<u64>,
    /// Read and configuration requests per key per window.
    #[arg(long)]
    read_per_key: Option<u64>,
    /// Read and configuration requests per org per window.
    #[arg(long)]
    read_per_org: Option<u64>,
    /// Outbound requests (tests, replays, export jobs) per key per window.
    #[arg(long)]
    outbound_per_key: Option<u64>,
    /// Outbound requests per org per window.
    #[arg(long)]
    outbound_per_org: Option<u64>,
    /// Messages the org's replays may enqueue per hour.
    #[arg(long)]
    replay_messages_per_hour: Option<u64>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key; prints JSON with the `token` (shown this once only).
    Create {
        /// Org the key belongs to.
        #[arg(long)]
        org: OrgId,
        /// owner, admin, member or service.
        #[arg(long)]
        role: String,
        /// audit:write, audit:read or audit:export (repeatable; default by role).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A label.
        #[arg(long)]
        name: Option<String>,
    },
    /// List an org's keys (without tokens).
    List {
        /// The org id.
        #[arg(long)]
        org: OrgId,
    },
    /// Revoke a key: its token stops working at once.
    Revoke {
        /// The org id.
        #[arg(long)]
        org: OrgId,
        /// The key id (`key_…`).
        key_id: KeyId,
    },
}

fn outcome_json(org: &str, outcome: FlushOutcome) -> serde_json::Value {
    match outcome {
        FlushOutcome::Skipped => json!({"org_id": org, "outcome": "skipped"}),
        FlushOutcome::Idle => json!({"org_id": org, "outcome": "idle"}),
        FlushOutcome::Ran(run) => json!({"org_id": org, "outcome": "ran", "run": run}),
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The key that signs digests and manifests: the configured one, or a local one behind
/// [`SIGNING_KEY_ALIAS`], created on first use.
async fn local_signing_key(config: &Config, clients: &clients::Clients) -> Result<String> {
    match &config.signing_key_id {
        Some(k) => Ok(k.clone()),
        None => Ok(relay_app::integrity::signer::ensure_signing_key(
            &clients.kms,
            SIGNING_KEY_ALIAS,
        )
        .await?),
    }
}

fn print(v: serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

fn now() -> String {
    rfc3339_millis(time::OffsetDateTime::now_utc())
}

/// A resource's name: the last segment (after `sep`) of its configured URL or ARN, or the
/// default.
fn name_of(configured: Option<&str>, sep: char, default: &str) -> String {
    configured
        .and_then(|u| u.rsplit(sep).next())
        .filter(|n| !n.is_empty())
        .unwrap_or(default)
        .to_string()
}

/// The deliveries queue's name (from `AUDITRELAY_DELIVERIES_QUEUE_URL` when set).
fn queue_name(config: &Config) -> String {
    name_of(config.deliveries_queue_url.as_deref(), '/', DEFAULT_QUEUE)
}

/// The S3 early-flush request queue's name (from `AUDITRELAY_FLUSH_QUEUE_URL` when set).
fn flush_queue_name(config: &Config) -> String {
    name_of(
        config.flush_queue_url.as_deref(),
        '/',
        "auditrelay-flush-requests",
    )
}

/// The export-jobs queue's name (from `AUDITRELAY_EXPORT_QUEUE_URL` when set).
fn export_queue_name(config: &Config) -> String {
    name_of(
        config.export_queue_url.as_deref(),
        '/',
        "auditrelay-export-jobs",
    )
}

/// The notification topic's name (from `AUDITRELAY_NOTIFY_TOPIC_ARN` when set).
fn topic_name(config: &Config) -> String {
    name_of(config.notify_topic_arn.as_deref(), ':', DEFAULT_TOPIC)
}

/// Resolves a local queue's URL: the configured one, or the one `auditctl provision` made.
async fn local_queue(
    sqs: &aws_sdk_sqs::Client,
    configured: &Option<String>,
    name: &str,
) -> Result<String> {
    match configured {
        Some(u) => Ok(u.clone()),
        None => Ok(queues::queue_url(sqs, name)
            .await
            .map_err(|e| format!("{e} (run `auditctl provision` first)"))?),
    }
}

/// The key that seals stored credentials: the configured one, or a local one behind
/// [`CREDENTIALS_KEY_ALIAS`], created on first use.
async fn local_credentials_key(config: &Config, clients: &clients::Clients) -> Result<String> {
    match &config.credentials_key_id {
        Some(k) => Ok(k.clone()),
        None => Ok(relay_app::credentials::ensure_key(&clients.kms, CREDENTIALS_KEY_ALIAS).await?),
    }
}

/// How `auditctl serve` runs, from its flags.
struct ServeArgs {
    addr: SocketAddr,
    flush_interval: u64,
    flush_lease: Duration,
    export_budget: Duration,
    delivery_lease: Duration,
}

/// Runs everything the stack runs, from the same wiring as the functions, until Ctrl-C: the
/// API, the fanout and the summary counters (a stream poller each, resuming after its
/// recorded position), the deliver consumer, export jobs, early-flush requests and, every `flush_interval` seconds, the
/// scheduled S3 flush.
async fn serve(mut config: Config, clients: clients::Clients, args: ServeArgs) -> Result<()> {
    let ServeArgs {
        addr,
        flush_interval,
        flush_lease,
        export_budget,
        delivery_lease,
    } = args;
    let sqs = clients.sqs.clone();
    let queue_url = local_queue(&sqs, &config.deliveries_queue_url, &queue_name(&config)).await?;
    // Created here too, so that a stack provisioned before the slow lane existed still serves.
    let slow_url = match &config.slow_deliveries_queue_url {
        Some(u) => u.clone(),
        None => {
            queues::ensure_delivery_queues(
                &sqs,
                &queues::slow_queue_name(&queue_name(&config)),
                config.retry_schedule.max_attempts(),
            )
            .await?
            .queue_url
        }
    };
    let flush_url = local_queue(&sqs, &config.flush_queue_url, &flush_queue_name(&config)).await?;
    let export_url =
        local_queue(&sqs, &config.export_queue_url, &export_queue_name(&config)).await?;
    let topic_arn = match &config.notify_topic_arn {
        Some(a) => a.clone(),
        None => queues::ensure_topic(&clients.sns, &topic_name(&config)).await?,
    };
    config.deliveries_queue_url = Some(queue_url.clone());
    config.slow_deliveries_queue_url = Some(slow_url);
    config.flush_queue_url = Some(flush_url.clone());
    config.export_queue_url = Some(export_url.clone());
    config.notify_topic_arn = Some(topic_arn);
    config.credentials_key_id = Some(local_credentials_key(&config, &clients).await?);
    config.signing_key_id = Some(local_signing_key(&config, &clients).await?);
    let wiring = Wiring::new(config, clients);

    // The stream's two consumers, each with its own position, as each has its own event
    // source mapping when deployed.
    let streams = aws_sdk_dynamodbstreams::Client::new(&wiring.clients.sdk);
    let consumers: [StreamConsumer; 2] = [wiring.fanout()?.into(), wiring.summarizer().into()];
    for consumer in consumers {
        let stream = StreamPoller::new(
            &wiring.clients.ddb,
            streams.clone(),
            &wiring.config.events_table,
            consumer,
        )
        .await?
        .with_position(wiring.store());
        tokio::spawn(stream.run(Duration::from_millis(200)));
    }
    let mut delivery = DeliverySettings::from_config(&wiring.config);
    delivery.lease = delivery_lease;
    tokio::spawn(run_delivery_pools(
        sqs.clone(),
        wiring.deliverer_with(delivery)?,
        Duration::from_millis(200),
    ));
    // Export jobs and early-flush requests: the functions' handlers, fed from their queues.
    let exports = ExportPoller::new(
        sqs.clone(),
        export_url,
        wiring.export_runner(),
        export_budget,
    );
    tokio::spawn(exports.run(Duration::from_millis(500)));
    let mut settings = FlushSettings::from_config(&wiring.config);
    settings.lease = flush_lease;
    let flusher = Flusher::from_config(&wiring.config, &wiring.clients, settings);
    let requests = FlushRequestPoller::new(sqs, flush_url, flusher.clone(), LOCAL_BUDGET);
    tokio::spawn(requests.run(Duration::from_millis(500)));
    if flush_interval > 0 {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(flush_interval));
            tick.tick().await;
            loop {
                tick.tick().await;
                let deadline = Instant::now() + Duration::from_secs(14 * 60);
                match flusher.flush_all(deadline).await {
                    Ok(outcomes) => {
                        for (org, o) in outcomes {
                            tracing::info!(report = %outcome_json(&org, o), "scheduled flush");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "scheduled flush failed"),
                }
            }
        });
    }

    let state = relay_api::AppState::new(wiring).await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, deliveries = %queue_url, "auditrelay API, fanout and deliver consumer running");
    axum::serve(listener, relay_api::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `auditctl org limits …`: the operator's overrides item, merged field by field.
async fn org_limits(store: &Store, command: LimitsCommand) -> Result<()> {
    let org_id = match &command {
        LimitsCommand::Show { org_id }
        | LimitsCommand::Set { org_id, .. }
        | LimitsCommand::Clear { org_id } => org_id.clone(),
    };
    if store.get_org(&org_id).await?.is_none() {
        return Err(format!("no org {org_id}").into());
    }
    match command {
        LimitsCommand::Show { .. } => {}
        LimitsCommand::Set { values, .. } => {
            let mut o = store
                .get_limit_overrides(&org_id)
                .await?
                .unwrap_or_default();
            for (name, value) in [
                ("ingest_per_key", values.ingest_per_key),
                ("ingest_per_org", values.ingest_per_org),
                ("read_per_key", values.read_per_key),
                ("read_per_org", values.read_per_org),
                ("outbound_per_key", values.outbound_per_key),
                ("outbound_per_org", values.outbound_per_org),
                ("replay_messages_per_hour", values.replay_messages_per_hour),
            ] {
                if value.is_some() {
                    o.set(name, value);
                }
            }
            if let Err(e) = o.validate() {
                return Err(format!("--{}", e.to_string().replace('_', "-")).into());
            }
            store.put_limit_overrides(&org_id, &o, &now()).await?;
        }
        LimitsCommand::Clear { .. } => {
            store
                .put_limit_overrides(&org_id, &Default::default(), &now())
                .await?;
        }
    }
    let overrides = store
        .get_limit_overrides(&org_id)
        .await?
        .unwrap_or_default();
    let l = store.rate_limits(&org_id).await?;
    let budget =
        |b: relay_core::limits::Budget| json!({"per_key": b.per_key, "per_org": b.per_org});
    print(json!({
        "org_id": org_id,
        "overrides": overrides,
        "limits": {
            "window_secs": l.window.as_secs(),
            "ingest": budget(l.ingest),
            "read": budget(l.read),
            "outbound": budget(l.outbound),
            "replay_messages_per_hour": l.replay_messages_per_hour,
        },
    }));
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let config = Config::from_env()?;
    let clients = clients::Clients::from_env().await;
    let ddb = clients.ddb.clone();
    let store = Store::new(ddb.clone(), &config);
    match cli.command {
        Command::Provision => {
            let mut created = vec![];
            for (name, spec) in [
                (&config.events_table, schema::events_table()),
                (&config.config_table, schema::config_table()),
            ] {
                if schema::ensure_table(&ddb, name, &spec).await? {
                    created.push(name.clone());
                }
            }
            let max_attempts = config.retry_schedule.max_attempts();
            let q =
                queues::ensure_delivery_queues(&clients.sqs, &queue_name(&config), max_attempts)
                    .await?;
            let slow = queues::ensure_delivery_queues(
                &clients.sqs,
                &queues::slow_queue_name(&queue_name(&config)),
                max_attempts,
            )
            .await?;
            let topic = queues::ensure_topic(&clients.sns, &topic_name(&config)).await?;
            let credentials_key = local_credentials_key(&config, &clients).await?;
            let signing_key = local_signing_key(&config, &clients).await?;
            let flush = queues::ensure_queue_with_dlq(
                &clients.sqs,
                &flush_queue_name(&config),
                relay_app::destinations::s3_stream::pending::FLUSH_QUEUE,
            )
            .await?;
            let export = queues::ensure_queue_with_dlq(
                &clients.sqs,
                &export_queue_name(&config),
                relay_app::destinations::export_job::queue::EXPORT_QUEUE,
            )
            .await?;
            print(json!({
                "tables": [config.events_table, config.config_table],
                "created": created,
                "deliveries_queue_url": q.queue_url,
                "slow_deliveries_queue_url": slow.queue_url,
                "credentials_key_id": credentials_key,
                "signing_key_id": signing_key,
                "dead_letter_queue_url": q.dlq_url,
                "notify_topic_arn": topic,
                "flush_queue_url": flush.queue_url,
                "export_queue_url": export.queue_url,
            }));
        }
        Command::Org { command } => match command {
            OrgCommand::Create {
                name,
                tenant_id,
                retention_days,
            } => {
                if retention_days.is_some_and(|d| !(1..=3650).contains(&d)) {
                    return Err("--retention-days must be from 1 to 3650".into());
                }
                let org = store
                    .create_org(&name, tenant_id.as_deref(), retention_days, &now())
                    .await?;
                print(serde_json::to_value(org)?);
            }
            OrgCommand::Show { org_id } => match store.get_org(&org_id).await? {
                Some(org) => print(serde_json::to_value(org)?),
                None => return Err(format!("no org {org_id}").into()),
            },
            OrgCommand::Limits { command } => org_limits(&store, command).await?,
        },
        Command::Key { command } => match command {
            KeyCommand::Create {
                org,
                role,
                scopes,
                name,
            } => {
                let role =
                    Role::parse(&role).ok_or("--role must be owner, admin, member or service")?;
                let scopes = if scopes.is_empty() {
                    role.default_scopes()
                } else {
                    scopes
                        .iter()
                        .map(|s| {
                            Scope::parse(s).ok_or_else(|| {
                                format!(
                                    "unknown scope {s:?} (audit:write, audit:read, audit:export)"
                                )
                            })
                        })
                        .collect::<std::result::Result<_, _>>()?
                };
                if store.get_org(&org).await?.is_none() {
                    return Err(format!("no org {org}").into());
                }
                let (key, token) = store
                    .create_key(&org, role, scopes, name.as_deref(), &now())
                    .await?;
                let mut v = serde_json::to_value(key)?;
                v["token"] = json!(token);
                print(v);
            }
            KeyCommand::List { org } => print(serde_json::to_value(store.list_keys(&org).await?)?),
            KeyCommand::Revoke { org, key_id } => {
                if !store.revoke_key(&org, &key_id).await? {
                    return Err(format!("no key {key_id} in org {org}").into());
                }
                print(json!({"revoked": key_id}));
            }
        },
        Command::Flush { org } => {
            let flusher =
                Flusher::from_config(&config, &clients, FlushSettings::from_config(&config));
            let deadline = Instant::now() + Duration::from_secs(14 * 60);
            let outcomes = match org {
                Some(org) => {
                    let outcome = flusher.flush_org(&org, deadline).await?;
                    vec![(org, outcome)]
                }
                None => flusher.flush_all(deadline).await?,
            };
            let report: Vec<_> = outcomes
                .into_iter()
                .map(|(org, o)| outcome_json(&org, o))
                .collect();
            print(json!(report));
        }
        Command::Digest { org } => {
            let mut config = config;
            config.signing_key_id = Some(local_signing_key(&config, &clients).await?);
            let wiring = Wiring::new(config, clients);
            print(integrity::digest(&store, &wiring.digest_writer(), org).await?);
        }
        Command::Verify(args) => {
            let report = integrity::verify(&clients.sdk, &args).await?;
            if args.json {
                print(serde_json::to_value(&report)?);
            } else {
                print!("{}", report.text());
            }
            if !report.findings.is_empty() {
                return Err(format!("{} findings", report.findings.len()).into());
            }
        }
        Command::Serve {
            addr,
            flush_interval,
            flush_lease,
            export_budget,
            delivery_lease,
        } => {
            let args = ServeArgs {
                addr,
                flush_interval,
                flush_lease: Duration::from_secs(flush_lease),
                export_budget: Duration::from_secs(export_budget),
                delivery_lease: Duration::from_secs(delivery_lease),
            };
            serve(config, clients, args).await?
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auditctl: {e}");
            ExitCode::FAILURE
        }
    }
}
