//! On-demand export jobs (`POST /v1/audit/export`): the request, its validation,
//! the stored job and its API view.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::Error;
use crate::model::bucket::{BucketTarget, FieldNames, StoreType, TargetInput};
use crate::model::event::{parse_time, rfc3339_millis};
use crate::model::file_format::{file_shape, FileFormat};
use crate::model::ids::{ExportId, OrgId};
use crate::query::Position;
use crate::query::{LogFilter, LogQuery};
use crate::shapes::Schema;

/// A job's state.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted, waiting for the export function.
    Queued,
    /// Being written (possibly over several invocations).
    Running,
    /// Every file and the manifest are written.
    Completed,
    /// Stopped for good; `error` says why.
    Failed,
}

impl JobStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(JobStatus::Queued),
            "running" => Some(JobStatus::Running),
            "completed" => Some(JobStatus::Completed),
            "failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

/// `destination` of the request.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// `s3`, `gcs` or `azure_blob`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Bucket (the container, on Azure).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Key prefix (default `audit-logs`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The bucket's region (S3).
    #[serde(default)]
    pub region: Option<String>,
    /// The role AuditRelay assumes (with the org's ExternalId) to write (Amazon S3).
    #[serde(default, rename = "roleArn")]
    pub role_arn: Option<String>,
    /// The name of stored upload credentials (`POST /orgs/{orgId}/audit-export/credentials`).
    #[serde(default)]
    pub credentials_path: Option<String>,
    /// Another endpoint than the store's own (S3-compatible stores, emulators).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Path-style S3 addressing.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Azure storage account (else the stored credential's).
    #[serde(default)]
    pub account_name: Option<String>,
}

/// Body of `POST /v1/audit/export`.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "format": "jsonl"}))]
pub struct ExportRequest {
    /// Start of the range (inclusive, RFC 3339).
    #[schema(format = DateTime)]
    pub from: String,
    /// End of the range (exclusive).
    #[schema(format = DateTime)]
    pub to: String,
    /// `jsonl`, `jsonl.gz`, `csv`, `csv.gz` or `parquet`.
    #[schema(value_type = FileFormat)]
    pub format: String,
    /// The events' shape: `canonical`, `columnar` or `ocsf` (default: the format's).
    #[serde(default)]
    pub schema: Option<String>,
    /// The filters of `GET /v1/audit/logs`, as a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<ExportFilters>)]
    pub filters: Option<Map<String, Value>>,
    /// Where to write; the org's S3 export destination when omitted.
    #[serde(default)]
    pub destination: Option<DestinationInput>,
}

/// Filters an export accepts (those of `GET /v1/audit/logs` but the range and paging).
pub const FILTER_NAMES: [&str; 7] = [
    "action",
    "identity_id",
    "identity_type",
    "path_prefix",
    "success",
    "source_ip",
    "request_id",
];

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidExport {
    /// Range start.
    pub from: OffsetDateTime,
    /// Range end.
    pub to: OffsetDateTime,
    /// The events' shape in the files.
    pub schema: Schema,
    /// The files' format.
    pub format: FileFormat,
    /// The filters as query-parameter pairs (what is stored and re-parsed by the runner).
    pub filter_pairs: Vec<(String, String)>,
    /// The filters, parsed.
    pub filter: LogFilter,
    /// An explicit destination; `None`: the org's S3 export destination.
    pub destination: Option<BucketTarget>,
}

/// Prefixes the field of a validation error with `at` (`bucket` → `destination.bucket`).
fn under(at: &str, e: Error) -> Error {
    match e {
        Error::Invalid { field, message } => Error::Invalid {
            field: crate::decode::field_path(at, &field),
            message,
        },
        other => other,
    }
}

/// Turns the JSON `filters` object into `/v1/audit/logs` query pairs, naming bad fields
/// `filters.{name}`.
pub fn filter_pairs(filters: &Map<String, Value>) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    for (k, v) in filters {
        let field = format!("filters.{k}");
        if !FILTER_NAMES.contains(&k.as_str()) {
            return Err(Error::invalid(
                field,
                format!("is not a filter ({})", FILTER_NAMES.join(", ")),
            ));
        }
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Array(items) if k == "action" => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => names.push(s.clone()),
                        _ => return Err(Error::invalid(field, "must be a list of action names")),
                    }
                }
                names.join(",")
            }
            _ => {
                return Err(Error::invalid(
                    field,
                    if k == "success" {
                        "must be true or false"
                    } else {
                        "must be a string"
                    },
                ))
            }
        };
        pairs.push((k.clone(), value));
    }
    Ok(pairs)
}

/// Parses stored or requested filter pairs into a filter over `[from, to)`.
pub fn parse_filter(
    pairs: &[(String, String)],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<LogFilter, Error> {
    let mut filter = LogQuery::parse(pairs)
        .map_err(|e| under("filters", e))?
        .filter;
    filter.from = Some(from);
    filter.to = Some(to);
    Ok(filter)
}

impl DestinationInput {
    /// Validates the destination, naming `destination.{field}` on errors.
    pub fn validate(&self) -> Result<BucketTarget, Error> {
        let target = TargetInput {
            kind: Some(self.kind.clone()),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            prefix: self.prefix.clone(),
            role_arn: self.role_arn.clone(),
            credentials_path: self.credentials_path.clone(),
            access: None,
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            account_name: self.account_name.clone(),
        }
        .validate(FieldNames::JOB)?;
        Ok(target)
    }
}

impl ExportRequest {
    /// Validates every field, naming the first bad one. `retention_days` bounds the range.
    pub fn validate(&self, retention_days: u32) -> Result<ValidExport, Error> {
        let from = parse_time("from", &self.from)?;
        let to = parse_time("to", &self.to)?;
        crate::summary::check_range(from, to, retention_days)?;
        let (schema, format) = file_shape(
            self.schema.as_deref(),
            Some(&self.format),
            "schema",
            "format",
        )?;
        let filter_pairs = match &self.filters {
            Some(f) => filter_pairs(f)?,
            None => vec![],
        };
        let filter = parse_filter(&filter_pairs, from, to)?;
        let destination = self
            .destination
            .as_ref()
            .map(DestinationInput::validate)
            .transpose()?;
        Ok(ValidExport {
            from,
            to,
            schema,
            format,
            filter_pairs,
            filter,
            destination,
        })
    }
}

/// One written file.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFile {
    /// Object key in the destination bucket.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Events in it.
    pub records: u64,
    /// Hex SHA-256 of its bytes as stored (files written before manifests were signed have
    /// none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// How a job's `manifest.json` is signed: what an auditor checks it against.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestSeal {
    /// Hex SHA-256 of the manifest's bytes.
    pub manifest_sha256: String,
    /// The signature (hex, ECDSA P-256 SHA-256, ASN.1 DER) of the manifest's signing string.
    pub manifest_signature: String,
    /// Hex SHA-256 of the signing key's DER public key.
    pub public_key_fingerprint: String,
}

/// The schema of [`ManifestSeal`]'s fields flattened into [`ExportJobView`]: all three are
/// there once the manifest is signed, none before. Documentation only: utoipa documents an
/// optional flattened struct as "the struct or null", which no object answer matches.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ManifestSealFields {
    /// Hex SHA-256 of the manifest's bytes.
    manifest_sha256: Option<String>,
    /// The signature (hex, ECDSA P-256 SHA-256, ASN.1 DER) of the manifest's signing string.
    manifest_signature: Option<String>,
    /// Hex SHA-256 of the signing key's DER public key.
    public_key_fingerprint: Option<String>,
}

/// The schema of an export's `filters` ([`FILTER_NAMES`], as [`filter_pairs`] reads them).
/// Documentation only: the object is validated field by field so that an error names
/// `filters.{name}`, and an answer shows it as it was given.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ExportFilters {
    /// One action, comma-separated actions, or a list of them.
    action: Option<ActionsFilter>,
    /// The actor's `user_id`.
    identity_id: Option<String>,
    /// The actor's type.
    identity_type: Option<String>,
    /// Resource path prefix.
    path_prefix: Option<String>,
    /// `true`/`false`, as a boolean or a string.
    success: Option<SuccessFilter>,
    /// The actor's IP address.
    source_ip: Option<String>,
    /// The request id.
    request_id: Option<String>,
}

/// `filters.action`: a string or a list of strings.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum ActionsFilter {
    /// One action, or several comma-separated.
    One(String),
    /// A list of actions.
    Many(Vec<String>),
}

/// `filters.success`: a boolean, or `"true"`/`"false"`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum SuccessFilter {
    /// `true` or `false`.
    Bool(bool),
    /// `"true"` or `"false"`.
    Text(String),
}

/// A stored export job.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportJob {
    /// `exp_…` id.
    pub export_id: ExportId,
    /// Owning org.
    pub org_id: OrgId,
    /// State.
    pub status: JobStatus,
    /// The events' shape in the files.
    pub schema: Schema,
    /// The files' format.
    pub format: FileFormat,
    /// Range start (RFC 3339, as normalised at creation).
    pub from: String,
    /// Range end.
    pub to: String,
    /// Filter pairs.
    pub filters: Vec<(String, String)>,
    /// Where the files go.
    pub dest: BucketTarget,
    /// The estimate given at creation.
    pub estimated_records: u64,
    /// Events written so far.
    pub record_count: u64,
    /// Files written so far, in order.
    pub files: Vec<ExportFile>,
    /// The manifest's key, once written.
    pub manifest_key: Option<String>,
    /// Its signature, once written (`None` on a deployment without a signing key).
    pub manifest_seal: Option<ManifestSeal>,
    /// Creation time.
    pub created_at: String,
    /// When the first invocation started.
    pub started_at: Option<String>,
    /// When it completed.
    pub completed_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The last event written (the next file starts after it).
    pub position: Option<Position>,
    /// A multipart upload a crashed invocation left open (key, upload id).
    pub upload: Option<(String, String)>,
    /// Transient failures in a row.
    pub failures: u32,
}

/// `destination` in the API view (the role ARN is not shown).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct DestinationView {
    /// `s3`, `gcs` or `azure_blob`.
    #[serde(rename = "type")]
    pub kind: StoreType,
    /// Bucket (the container, on Azure).
    pub bucket: String,
    /// Prefix of the export's folder.
    pub prefix: String,
    /// Region (empty where the store has none).
    pub region: String,
    /// The stored credentials written with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_path: Option<String>,
    /// The endpoint, when not the store's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

/// `GET /v1/audit/exports/{id}` (the documented fields first).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ExportJobView {
    /// Id.
    pub export_id: ExportId,
    /// `queued`, `running`, `completed`, `failed`.
    pub status: JobStatus,
    /// Events written (all of them once completed).
    pub record_count: u64,
    /// The files, in order.
    pub files: Vec<ExportFile>,
    /// Completion time.
    pub completed_at: Option<String>,
    /// Why it failed (only when failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The events' shape in the files (`canonical`, `columnar`, `ocsf`).
    #[schema(pattern = "^(canonical|columnar|ocsf)$")]
    pub schema: &'static str,
    /// The files' format (`jsonl`, `jsonl.gz`, `csv`, `csv.gz`, `parquet`).
    pub format: FileFormat,
    /// Range start.
    pub from: String,
    /// Range end.
    pub to: String,
    /// Filters, as given.
    #[schema(value_type = ExportFilters)]
    pub filters: Map<String, Value>,
    /// Where the files are.
    pub destination: DestinationView,
    /// The manifest's key (once completed).
    pub manifest_key: Option<String>,
    /// The manifest's hash, signature and signing key (once completed and signed).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ManifestSealFields)]
    pub manifest_seal: Option<ManifestSeal>,
    /// The estimate given at creation.
    pub estimated_records: u64,
    /// Creation time.
    pub created_at: String,
    /// First start.
    pub started_at: Option<String>,
}

impl ExportJob {
    /// The folder of the job's files.
    pub fn folder(&self) -> String {
        format!("{}/exports/{}", self.dest.prefix, self.export_id)
    }

    /// The key of file `n` (1-based): `part-0001.jsonl`… (the format's extension).
    pub fn part_key(&self, n: usize) -> String {
        format!("{}/part-{n:04}.{}", self.folder(), self.format.as_str())
    }

    /// The manifest's key.
    pub fn manifest_key(&self) -> String {
        format!("{}/manifest.json", self.folder())
    }

    /// The filters as a JSON object (`success` as a boolean).
    pub fn filters_json(&self) -> Map<String, Value> {
        self.filters
            .iter()
            .map(|(k, v)| {
                let value = match (k.as_str(), v.as_str()) {
                    ("success", "true") => Value::Bool(true),
                    ("success", "false") => Value::Bool(false),
                    _ => Value::String(v.clone()),
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// The API view.
    pub fn view(&self) -> ExportJobView {
        ExportJobView {
            export_id: self.export_id.clone(),
            status: self.status,
            record_count: self.record_count,
            files: self.files.clone(),
            completed_at: self.completed_at.clone(),
            error: self.error.clone(),
            schema: self.schema.as_str(),
            format: self.format,
            from: self.from.clone(),
            to: self.to.clone(),
            filters: self.filters_json(),
            destination: DestinationView {
                kind: self.dest.store,
                bucket: self.dest.bucket.clone(),
                prefix: self.folder(),
                region: self.dest.region.clone(),
                credentials_path: self.dest.credentials_path().map(str::to_string),
                endpoint_url: self.dest.endpoint_url.clone(),
            },
            manifest_key: self.manifest_key.clone(),
            manifest_seal: self.manifest_seal.clone(),
            estimated_records: self.estimated_records,
            created_at: self.created_at.clone(),
            started_at: self.started_at.clone(),
        }
    }
}

/// Formats a range bound the way jobs store it.
pub fn bound(t: OffsetDateTime) -> String {
    rfc3339_millis(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/AuditRelayExport";

    fn req(v: Value) -> Result<ValidExport, Error> {
        let r: ExportRequest = crate::decode::from_value(v, "")?;
        r.validate(365)
    }

    fn field(r: Result<ValidExport, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    fn base() -> Value {
        json!({"from": "2026-05-01T00:00:00Z", "to": "2026-05-02T00:00:00Z", "format": "csv"})
    }

    fn with(k: &str, v: Value) -> Value {
        let mut b = base();
        b[k] = v;
        b
    }

    #[test]
    fn a_full_request_validates() {
        let v = req(with(
            "filters",
            json!({"action": ["document.opened", "user.login"], "success": false, "identity_id": "sa:x"}),
        ))
        .unwrap();
        assert_eq!((v.schema, v.format), (Schema::Columnar, FileFormat::Csv));
        assert_eq!(v.filter.actions, vec!["document.opened", "user.login"]);
        assert_eq!(v.filter.success, Some(false));
        assert!(v.filter.from.is_some() && v.filter.to.is_some());
        assert!(v.destination.is_none());
        let v = req(with(
            "destination",
            json!({"type": "s3", "bucket": "acme-audit", "region": "eu-west-1", "roleArn": ROLE}),
        ))
        .unwrap();
        assert_eq!(v.destination.unwrap().prefix, "audit-logs");
        for (schema, format, want) in [
            (None, "jsonl", (Schema::Canonical, FileFormat::Jsonl)),
            (None, "parquet", (Schema::Columnar, FileFormat::Parquet)),
            (
                Some("ocsf"),
                "jsonl.gz",
                (Schema::Ocsf, FileFormat::JsonlGz),
            ),
            (
                Some("columnar"),
                "csv.gz",
                (Schema::Columnar, FileFormat::CsvGz),
            ),
        ] {
            let mut body = with("format", json!(format));
            if let Some(s) = schema {
                body["schema"] = json!(s);
            }
            let v = req(body).unwrap();
            assert_eq!((v.schema, v.format), want, "{schema:?} {format}");
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let dest = |extra: Value| {
            let mut d = json!({"type": "s3", "bucket": "acme-audit", "region": "eu-west-1", "roleArn": ROLE});
            for (k, v) in extra.as_object().unwrap() {
                d[k] = v.clone();
            }
            with("destination", d)
        };
        let cases = [
            (with("from", json!("2026-05-03T00:00:00Z")), "from"),
            (with("from", json!("2024-01-01T00:00:00Z")), "from"),
            (with("to", json!("tomorrow")), "to"),
            (with("format", json!("avro")), "format"),
            (with("schema", json!("canonical")), "format"),
            (with("schema", json!("entry")), "schema"),
            (with("schema", json!("xml")), "schema"),
            (with("filters", json!({"colour": "red"})), "filters.colour"),
            (with("filters", json!({"limit": "5"})), "filters.limit"),
            (
                with("filters", json!({"success": "maybe"})),
                "filters.success",
            ),
            (
                with("filters", json!({"identity_type": "robot"})),
                "filters.identity_type",
            ),
            (with("filters", json!({"action": [1]})), "filters.action"),
            (dest(json!({"type": "gcs"})), "destination.roleArn"),
            (
                dest(json!({"type": "azure_blob", "roleArn": null})),
                "destination.credentials_path",
            ),
            (dest(json!({"type": "ftp"})), "destination.type"),
            (
                dest(json!({"roleArn": "arn:aws:iam::1:role/x"})),
                "destination.roleArn",
            ),
            (dest(json!({"bucket": "Bad_Bucket"})), "destination.bucket"),
            (dest(json!({"region": "moon"})), "destination.region"),
            (dest(json!({"prefix": "/x"})), "destination.prefix"),
            (
                dest(json!({"credentials_path": "vault/x", "roleArn": null})),
                "destination.credentials_path",
            ),
            (
                dest(json!({"endpoint_url": "ftp://x"})),
                "destination.endpoint_url",
            ),
            (dest(json!({"endpoint": "x"})), "destination.endpoint"),
            (
                with(
                    "destination",
                    json!({"type": "s3", "bucket": "acme-audit", "region": "eu-west-1"}),
                ),
                "destination.roleArn",
            ),
            (with("colour", json!(1)), "colour"),
        ];
        for (body, f) in cases {
            assert_eq!(field(req(body.clone())), f, "{body}");
        }
        let missing: Value = json!({"to": "2026-05-02T00:00:00Z", "format": "csv"});
        assert_eq!(field(req(missing)), "from");
    }

    #[test]
    fn keys_and_views() {
        let job = ExportJob {
            export_id: "exp_1".into(),
            org_id: "org_1".into(),
            status: JobStatus::Completed,
            schema: Schema::Columnar,
            format: FileFormat::CsvGz,
            from: "a".into(),
            to: "b".into(),
            filters: vec![
                ("success".into(), "true".into()),
                ("action".into(), "a,b".into()),
            ],
            dest: BucketTarget {
                store: StoreType::S3,
                bucket: "b".into(),
                region: "us-east-1".into(),
                access: crate::model::bucket::Access::Role(ROLE.into()),
                prefix: "audit-logs".into(),
                endpoint_url: None,
                force_path_style: false,
                account_name: None,
            },
            estimated_records: 1,
            record_count: 1,
            files: vec![],
            manifest_key: None,
            manifest_seal: None,
            created_at: "c".into(),
            started_at: None,
            completed_at: None,
            error: None,
            position: None,
            upload: None,
            failures: 0,
        };
        assert_eq!(job.part_key(1), "audit-logs/exports/exp_1/part-0001.csv.gz");
        assert_eq!(job.manifest_key(), "audit-logs/exports/exp_1/manifest.json");
        let v = serde_json::to_value(job.view()).unwrap();
        assert_eq!(v["filters"], json!({"success": true, "action": "a,b"}));
        assert_eq!(
            (&v["schema"], &v["format"]),
            (&json!("columnar"), &json!("csv.gz"))
        );
        assert!(v.get("error").is_none(), "error only when failed");
        assert!(
            !v.to_string().contains("123456789012"),
            "no role ARN in the view"
        );
    }
}
