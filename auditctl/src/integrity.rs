//! `auditctl digest` (write every integrity digest that is due) and `auditctl verify` (check
//! a copy of a destination, or the bucket itself, against its digests, offline).

use std::path::{Path, PathBuf};

use clap::Args;
use relay_app::integrity::digests::DigestWriter;
use relay_app::integrity::verify::{verify_dir, KeySet, Range, Report};
use relay_core::integrity::{is_digest_key, SIGNATURE_METADATA, SIGNATURE_SUFFIX};
use relay_core::model::ids::OrgId;
use relay_store::Store;
use serde_json::json;

use crate::Result;

/// Where `verify` reads from and what it trusts.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A local copy (e.g. `aws s3 sync s3://bucket/prefix DIR`).
    #[arg(long, conflicts_with = "bucket", required_unless_present = "bucket")]
    dir: Option<PathBuf>,
    /// Read this bucket directly (with the AWS credentials of the environment).
    #[arg(long)]
    bucket: Option<String>,
    /// The export's prefix in the bucket (its objects are under `{prefix}/{tenant_id}/`).
    #[arg(long, default_value = "")]
    prefix: String,
    /// An S3-compatible endpoint (path-style), instead of AWS's.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Only periods ending after this time (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Only periods ending at or before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// PEM file of the trusted public key(s).
    #[arg(
        long,
        conflicts_with = "keys_url",
        required_unless_present = "keys_url"
    )]
    public_key: Option<PathBuf>,
    /// The deployment's key list (`{API}/v1/audit/integrity/keys`).
    #[arg(long)]
    keys_url: Option<String>,
    /// Also compare each period's event count with the trail's (`GET
    /// /v1/audit/integrity/counts` of this API, with `--key`).
    #[arg(long, requires = "key")]
    api: Option<String>,
    /// An API key with `audit:read` for `--api`.
    #[arg(long)]
    key: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Writes every due digest of `org` (or of every org with an enabled continuous export).
pub async fn digest(
    store: &Store,
    writer: &DigestWriter,
    org: Option<OrgId>,
) -> Result<serde_json::Value> {
    if !writer.enabled() {
        return Err("no signing key: set AUDITRELAY_SIGNING_KEY_ID (auditctl provision creates a local one)".into());
    }
    let orgs = match org {
        Some(o) => vec![o],
        None => store
            .enabled_s3_orgs()
            .await?
            .into_iter()
            .map(OrgId::from)
            .collect(),
    };
    let now = time::OffsetDateTime::now_utc();
    let mut report = Vec::new();
    for org in orgs {
        let outcome = writer.write_due(&org, now).await?;
        report.push(json!({"org_id": org, "written": outcome.written}));
    }
    Ok(json!(report))
}

async fn keys(args: &VerifyArgs) -> Result<KeySet> {
    if let Some(path) = &args.public_key {
        return Ok(KeySet::from_pem(&std::fs::read_to_string(path)?)?);
    }
    let url = args
        .keys_url
        .as_deref()
        .ok_or("--public-key or --keys-url")?;
    let text = reqwest::get(url).await?.error_for_status()?.text().await?;
    Ok(KeySet::from_keys_json(&text)?)
}

/// Downloads every object under `prefix` into `dir` (keys as paths), with each digest's
/// signature from its metadata when its `.sig` sibling is missing.
async fn download(sdk: &aws_config::SdkConfig, args: &VerifyArgs, dir: &Path) -> Result<()> {
    let bucket = args.bucket.as_deref().ok_or("--bucket")?;
    let mut conf = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(url) = &args.endpoint_url {
        conf = conf.endpoint_url(url).force_path_style(true);
    }
    let s3 = aws_sdk_s3::Client::from_conf(conf.build());
    let mut token = None;
    let mut keys = Vec::new();
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&args.prefix)
            .set_continuation_token(token)
            .send()
            .await?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for key in &keys {
        let out = s3.get_object().bucket(bucket).key(key).send().await?;
        let signature = out
            .metadata()
            .and_then(|m| m.get(SIGNATURE_METADATA))
            .cloned();
        let bytes = out.body.collect().await?.into_bytes();
        let path = dir.join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &bytes)?;
        let sig_key = format!("{key}{SIGNATURE_SUFFIX}");
        if is_digest_key(key) && !keys.contains(&sig_key) {
            if let Some(sig) = signature {
                std::fs::write(dir.join(sig_key), sig)?;
            }
        }
    }
    Ok(())
}

/// Runs a verification; `Ok(report)` whatever it found (the caller sets the exit code).
pub async fn verify(sdk: &aws_config::SdkConfig, args: &VerifyArgs) -> Result<Report> {
    let keys = keys(args).await?;
    let range = Range {
        from: args.from.clone(),
        to: args.to.clone(),
    };
    let mut report = match &args.dir {
        Some(dir) => verify_dir(dir, &keys, &range)?,
        None => {
            let tmp = std::env::temp_dir().join(format!(
                "auditctl-verify-{}",
                ulid::Ulid::new().to_string().to_lowercase()
            ));
            std::fs::create_dir_all(&tmp)?;
            let result = match download(sdk, args, &tmp).await {
                Ok(()) => verify_dir(&tmp, &keys, &range).map_err(Into::into),
                Err(e) => Err(e),
            };
            let _ = std::fs::remove_dir_all(&tmp);
            result?
        }
    };
    if let (Some(api), Some(key), Some(first), Some(last)) = (
        &args.api,
        &args.key,
        report.first_period_start.clone(),
        report.last_period_end.clone(),
    ) {
        let period = match (
            report
                .periods
                .first()
                .and_then(|p| relay_core::integrity::parse_period_time(&p.start)),
            report
                .periods
                .first()
                .and_then(|p| relay_core::integrity::parse_period_time(&p.end)),
        ) {
            (Some(s), Some(e)) if e > s => e - s,
            _ => time::Duration::hours(1),
        };
        // The API answers at most a month of hourly periods per request.
        let window: time::Duration = period * 700;
        let client = reqwest::Client::new();
        let mut accepted: Vec<(String, String, u64)> = Vec::new();
        let (Some(mut at), Some(end)): (
            Option<time::OffsetDateTime>,
            Option<time::OffsetDateTime>,
        ) = (
            relay_core::integrity::parse_period_time(&first),
            relay_core::integrity::parse_period_time(&last),
        ) else {
            return Ok(report);
        };
        while at < end {
            let until = (at + window).min(end);
            let url = format!(
                "{}/v1/audit/integrity/counts?from={}&to={}",
                api.trim_end_matches('/'),
                relay_core::integrity::period_time(at),
                relay_core::integrity::period_time(until)
            );
            let body: serde_json::Value = client
                .get(&url)
                .bearer_auth(key)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            accepted.extend(body["periods"].as_array().into_iter().flatten().map(|p| {
                (
                    p["start"].as_str().unwrap_or_default().to_string(),
                    p["end"].as_str().unwrap_or_default().to_string(),
                    p["events"].as_u64().unwrap_or_default(),
                )
            }));
            at = until;
        }
        report.compare_counts(&accepted);
    }
    Ok(report)
}
