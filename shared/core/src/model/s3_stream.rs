//! The continuous export (the AuditExport API's `AuditExportConfig`): five-minute batches in
//! the customer's bucket on any supported store; its input, validation and the masked view
//! returned by the API. Batches are laid out in the standard way or, for Amazon Security
//! Lake, as one custom source per OCSF class ([`Layout`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::bucket::{
    mask_role_arn, validate_region, Access, BucketTarget, FieldNames, StoreType, TargetInput,
};
use crate::model::file_format::{file_shape_in, FileFormat, FileLayout};
use crate::model::ids::OrgId;
use crate::shapes::ocsf::Class;
use crate::shapes::Schema;

/// The OCSF classes the service emits, by the names Security Lake gives them
/// (`--event-classes` of `create-custom-log-source`), in the order [`SecurityLake::sources`]
/// holds their sources.
pub const SECURITY_LAKE_CLASSES: [(&str, Class); 3] = [
    ("ACCOUNT_CHANGE", Class::AccountChange),
    ("AUTHENTICATION", Class::Authentication),
    ("API_ACTIVITY", Class::ApiActivity),
];

/// Longest custom source name: Security Lake names the source's provider role
/// `AmazonSecurityLake-Provider-{source}-{region}` and requires names of at most 20
/// characters so that the role's name stays within IAM's 64.
pub const MAX_SOURCE_NAME: usize = 20;

/// Where an Amazon Security Lake export writes: one custom source per OCSF class, under
/// `ext/{source}/region={region}/accountId={account_id}/eventDay={YYYYMMDD}/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityLake {
    /// The AWS account the data belongs to (the `accountId` partition).
    pub account_id: String,
    /// The AWS region of the data (the `region` partition).
    pub region: String,
    /// The custom source of each class, in [`SECURITY_LAKE_CLASSES`] order.
    pub sources: [String; 3],
}

impl SecurityLake {
    /// The custom source that receives `class`.
    pub fn source(&self, class: Class) -> &str {
        let i = SECURITY_LAKE_CLASSES
            .iter()
            .position(|(_, c)| *c == class)
            .unwrap_or(0);
        &self.sources[i]
    }

    /// The object key of the records of one class and one UTC day (`YYYYMMDD`) of a batch,
    /// under `prefix` when one is set.
    pub fn object_key(
        &self,
        prefix: &str,
        class: Class,
        event_day: &str,
        batch_id: &str,
    ) -> String {
        let key = format!(
            "ext/{}/region={}/accountId={}/eventDay={event_day}/{batch_id}.parquet",
            self.source(class),
            self.region,
            self.account_id
        );
        if prefix.is_empty() {
            key
        } else {
            format!("{prefix}/{key}")
        }
    }

    /// The source locations, `{prefix/}ext/{source}`, in [`SECURITY_LAKE_CLASSES`] order.
    pub fn locations(&self, prefix: &str) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| {
                if prefix.is_empty() {
                    format!("ext/{s}")
                } else {
                    format!("{prefix}/ext/{s}")
                }
            })
            .collect()
    }
}

/// How batches are laid out in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Layout {
    /// `{prefix}/{tenant_id}/{YYYY-MM-DD}/{batch_id}.{ext}`: one file per batch.
    #[default]
    Standard,
    /// Amazon Security Lake custom sources: one Parquet file per (class, event day) of a
    /// batch.
    SecurityLake(SecurityLake),
}

impl Layout {
    /// Which layout, without its settings.
    pub fn kind(&self) -> FileLayout {
        match self {
            Layout::Standard => FileLayout::Standard,
            Layout::SecurityLake(_) => FileLayout::SecurityLake,
        }
    }

    /// The Security Lake settings, in that layout.
    pub fn security_lake(&self) -> Option<&SecurityLake> {
        match self {
            Layout::SecurityLake(sl) => Some(sl),
            Layout::Standard => None,
        }
    }
}

/// `securityLake` as given.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecurityLakeInput {
    /// The AWS account id (12 digits).
    #[serde(default)]
    pub account_id: Option<String>,
    /// The AWS region (default: the bucket's).
    #[serde(default)]
    pub region: Option<String>,
    /// Custom source name per Security Lake event class.
    #[serde(default)]
    pub sources: Option<BTreeMap<String, String>>,
}

/// A custom source name as Security Lake takes it: 1 to [`MAX_SOURCE_NAME`] letters, digits,
/// `_`, `-`, `.` or `:` (the API's pattern `[\w\-\_\:\.]*`).
pub fn validate_source_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SOURCE_NAME {
        return Err(format!(
            "must be 1-{MAX_SOURCE_NAME} characters (Security Lake names the provider role AmazonSecurityLake-Provider-{{source}}-{{region}} and keeps it within 64)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    {
        return Err("may contain only letters, digits, '_', '-', '.' and ':'".into());
    }
    Ok(())
}

impl SecurityLakeInput {
    /// Validates the fields given, each missing one taken from `stored` (then the region from
    /// `bucket_region`); errors name `securityLake.*`.
    fn validate(
        &self,
        stored: Option<&SecurityLake>,
        bucket_region: &str,
    ) -> Result<SecurityLake, Error> {
        let account_id = self
            .account_id
            .clone()
            .or_else(|| stored.map(|s| s.account_id.clone()))
            .ok_or_else(|| Error::invalid("securityLake.accountId", "is required"))?;
        if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(
                "securityLake.accountId",
                "must be an AWS account id: 12 digits",
            ));
        }
        let region = self
            .region
            .clone()
            .or_else(|| stored.map(|s| s.region.clone()))
            .unwrap_or_else(|| bucket_region.to_string());
        validate_region(&region).map_err(|e| match e {
            Error::Invalid { message, .. } => Error::invalid("securityLake.region", message),
            other => other,
        })?;
        let given = self.sources.clone().unwrap_or_default();
        if let Some(unknown) = given
            .keys()
            .find(|k| !SECURITY_LAKE_CLASSES.iter().any(|(n, _)| n == k))
        {
            return Err(Error::invalid(
                format!("securityLake.sources.{unknown}"),
                "is not an event class this service writes: ACCOUNT_CHANGE, AUTHENTICATION or API_ACTIVITY",
            ));
        }
        let mut sources: [String; 3] = Default::default();
        for (i, (name, _)) in SECURITY_LAKE_CLASSES.iter().enumerate() {
            let field = format!("securityLake.sources.{name}");
            let source = given
                .get(*name)
                .cloned()
                .or_else(|| stored.map(|s| s.sources[i].clone()))
                .ok_or_else(|| {
                    Error::invalid(
                        &field,
                        "is required: every class the service writes needs its custom source, so that no event is left without one",
                    )
                })?;
            validate_source_name(&source).map_err(|m| Error::invalid(&field, m))?;
            if sources[..i].contains(&source) {
                return Err(Error::invalid(
                    &field,
                    "names the source of another class: Security Lake takes one OCSF class per source",
                ));
            }
            sources[i] = source;
        }
        Ok(SecurityLake {
            account_id,
            region,
            sources,
        })
    }
}

/// Body of `POST .../audit-export/config` and `.../test-connection` (the AuditExport API,
/// camelCase, plus the fields of the other stores).
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"bucket": "customer-audit-logs", "region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport"}))]
pub struct S3ConfigInput {
    /// `s3` (default), `gcs` or `azure_blob`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Bucket name (the container, on Azure).
    #[serde(default)]
    pub bucket: Option<String>,
    /// The bucket's region (S3).
    #[serde(default)]
    pub region: Option<String>,
    /// The role AuditRelay assumes to write (Amazon S3).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The stored credential to sign with (stores without IAM).
    #[serde(default)]
    pub credentials_path: Option<String>,
    /// `role`, `credentials` or `bucket_policy` (else implied by the fields given).
    #[serde(default)]
    pub access: Option<String>,
    /// Another endpoint than the store's own (S3-compatible stores, emulators).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Path-style S3 addressing.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Azure storage account.
    #[serde(default)]
    pub account_name: Option<String>,
    /// Whether batches are written (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Key prefix (default `audit-logs`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `jsonl` (default), `jsonl.gz`, `csv`, `csv.gz` or `parquet`.
    #[serde(default)]
    pub format: Option<String>,
    /// The events' shape in the files: `canonical` (default for JSONL), `columnar` (default
    /// for CSV and Parquet) or `ocsf`.
    #[serde(default)]
    pub schema: Option<String>,
    /// `standard` (default) or `security_lake` (implied by `securityLake`); kept across
    /// updates unless given.
    #[serde(default)]
    pub layout: Option<String>,
    /// The Security Lake account, region and sources (layout `security_lake`); each field
    /// kept across updates unless given.
    #[serde(default)]
    pub security_lake: Option<SecurityLakeInput>,
}

/// A validated destination: where batches go, their format and the events' shape.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Destination {
    /// The bucket, prefix and access.
    pub target: BucketTarget,
    /// File format.
    pub format: FileFormat,
    /// The events' shape.
    pub schema: Schema,
    /// How batches are laid out.
    pub layout: Layout,
}

/// A stored S3 export configuration with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct S3ExportConfig {
    /// `s3x_…` id.
    pub id: String,
    /// Owning org.
    pub org_id: OrgId,
    /// Where to write.
    pub dest: S3Destination,
    /// Whether the schedule writes batches.
    pub enabled: bool,
    /// Why it was paused automatically, if it was.
    pub paused_reason: Option<String>,
    /// Last connection test.
    pub last_tested_at: Option<String>,
    /// Its result.
    pub last_test_ok: Option<bool>,
    /// Most recent error (test or flush).
    pub last_error: Option<String>,
    /// Last time a batch was written.
    pub last_exported_at: Option<String>,
    /// Failed flush runs in a row.
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<String>,
    /// Waiting for the ownership token (bucket-policy access only).
    pub pending_verification: bool,
    /// Creation time.
    pub created_at: String,
    /// Last update.
    pub updated_at: String,
}

/// The API view (the AuditExport API's `AuditExportConfig` plus `prefix`, `format`,
/// `externalId`, `pausedReason`). The role ARN is masked.
#[derive(utoipa::ToSchema, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ConfigView {
    /// Config id.
    pub id: String,
    /// Org id.
    pub org_id: OrgId,
    /// `s3`, `gcs` or `azure_blob`.
    #[serde(rename = "type")]
    pub kind: StoreType,
    /// Bucket (the container, on Azure).
    pub bucket: String,
    /// Region (empty where the store has none).
    pub region: String,
    /// `role`, `credentials` or `bucket_policy`.
    #[schema(pattern = "^(role|credentials|bucket_policy)$")]
    pub access: &'static str,
    /// The role ARN with its account id and role name masked (role access only).
    pub role_arn_masked: Option<String>,
    /// The stored credential's name (credentials access only).
    pub credentials_path: Option<String>,
    /// The endpoint, when not the store's own.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (S3).
    pub force_path_style: bool,
    /// Azure storage account.
    pub account_name: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// `active`, `disabled`, `paused` or `pendingVerification` (bucket-policy access, until
    /// the ownership token is posted to `.../audit-export/verify`).
    #[schema(pattern = "^(active|disabled|paused|pendingVerification)$")]
    pub status: &'static str,
    /// Last connection test time.
    pub last_tested_at: Option<String>,
    /// Last connection test result.
    pub last_test_ok: Option<bool>,
    /// Most recent error.
    pub last_error: Option<String>,
    /// Last successful export.
    pub last_exported_at: Option<String>,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: String,
    /// Key prefix.
    pub prefix: String,
    /// File format.
    pub format: FileFormat,
    /// The events' shape (`canonical`, `columnar`, `ocsf`).
    #[schema(pattern = "^(canonical|columnar|ocsf)$")]
    pub schema: &'static str,
    /// The ExternalId the customer's trust policy must require (read-only, per org).
    pub external_id: String,
    /// Why the destination was paused automatically, if it was.
    pub paused_reason: Option<String>,
    /// `standard` or `security_lake`.
    #[schema(pattern = "^(standard|security_lake)$")]
    pub layout: &'static str,
    /// The Security Lake settings (layout `security_lake`), else null.
    pub security_lake: Option<SecurityLakeView>,
}

/// `securityLake` in the API view.
#[derive(utoipa::ToSchema, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityLakeView {
    /// AWS account id.
    pub account_id: String,
    /// AWS region.
    pub region: String,
    /// Custom source name per Security Lake event class.
    pub sources: BTreeMap<&'static str, String>,
}

impl From<&SecurityLake> for SecurityLakeView {
    fn from(sl: &SecurityLake) -> Self {
        SecurityLakeView {
            account_id: sl.account_id.clone(),
            region: sl.region.clone(),
            sources: SECURITY_LAKE_CLASSES
                .iter()
                .zip(&sl.sources)
                .map(|((name, _), s)| (*name, s.clone()))
                .collect(),
        }
    }
}

impl S3ExportConfig {
    /// `pendingVerification`, `paused`, `disabled` or `active`.
    pub fn status(&self) -> &'static str {
        if self.pending_verification {
            "pendingVerification"
        } else if self.paused_reason.is_some() {
            "paused"
        } else if !self.enabled {
            "disabled"
        } else {
            "active"
        }
    }

    /// The API view, with `external_id` of the org.
    pub fn view(&self, external_id: &str) -> S3ConfigView {
        let t = &self.dest.target;
        S3ConfigView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            kind: t.store,
            bucket: t.bucket.clone(),
            region: t.region.clone(),
            access: t.access.as_str(),
            role_arn_masked: t.role_arn().map(mask_role_arn),
            credentials_path: t.credentials_path().map(str::to_string),
            endpoint_url: t.endpoint_url.clone(),
            force_path_style: t.force_path_style,
            account_name: t.account_name.clone(),
            enabled: self.enabled,
            status: self.status(),
            last_tested_at: self.last_tested_at.clone(),
            last_test_ok: self.last_test_ok,
            last_error: self.last_error.clone(),
            last_exported_at: self.last_exported_at.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            prefix: t.prefix.clone(),
            format: self.dest.format,
            schema: self.dest.schema.as_str(),
            external_id: external_id.to_string(),
            paused_reason: self.paused_reason.clone(),
            layout: self.dest.layout.kind().as_str(),
            security_lake: self.dest.layout.security_lake().map(SecurityLakeView::from),
        }
    }
}

impl S3ConfigInput {
    /// Validates every field, naming the first bad one.
    pub fn validate(&self) -> Result<S3Destination, Error> {
        self.validate_over(None)
    }

    /// Validates every field, naming the first bad one; `layout` and the `securityLake`
    /// fields that are not given are kept from `stored`, the org's current destination.
    pub fn validate_over(&self, stored: Option<&S3Destination>) -> Result<S3Destination, Error> {
        let stored_lake = stored.and_then(|d| d.layout.security_lake());
        let kind = match self.layout.as_deref() {
            Some(l) => FileLayout::parse(l)
                .ok_or_else(|| Error::invalid("layout", "must be standard or security_lake"))?,
            None if self.security_lake.is_some() => FileLayout::SecurityLake,
            None => stored.map(|d| d.layout.kind()).unwrap_or_default(),
        };
        let mut target = TargetInput {
            kind: self.kind.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            prefix: self.prefix.clone(),
            role_arn: self.role_arn.clone(),
            credentials_path: self.credentials_path.clone(),
            access: self.access.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            account_name: self.account_name.clone(),
        }
        .validate(FieldNames::CONFIG)?;
        let layout = match kind {
            FileLayout::Standard if self.security_lake.is_some() => {
                return Err(Error::invalid(
                    "securityLake",
                    "is only for layout security_lake",
                ))
            }
            FileLayout::Standard => Layout::Standard,
            FileLayout::SecurityLake => {
                if target.store != StoreType::S3 {
                    return Err(Error::invalid(
                        "type",
                        "must be s3 with layout security_lake (Security Lake's bucket is in Amazon S3)",
                    ));
                }
                // A Security Lake bucket holds `ext/{source}/...` at its root.
                if self.prefix.is_none() {
                    target.prefix = String::new();
                }
                let input = self.security_lake.clone().unwrap_or_default();
                if self.security_lake.is_none() && stored_lake.is_none() {
                    return Err(Error::invalid(
                        "securityLake",
                        "is required with layout security_lake: accountId and sources (ACCOUNT_CHANGE, AUTHENTICATION, API_ACTIVITY)",
                    ));
                }
                Layout::SecurityLake(input.validate(stored_lake, &target.region)?)
            }
        };
        let (schema, format) = file_shape_in(
            kind,
            self.schema.as_deref(),
            self.format.as_deref(),
            "schema",
            "format",
        )?;
        Ok(S3Destination {
            target,
            format,
            schema,
            layout,
        })
    }
}

/// Whether `dest` needs its ownership proven before anything is exported.
pub fn needs_verification(dest: &S3Destination) -> bool {
    dest.target.access == Access::BucketPolicy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_defaults_and_format() {
        let input: S3ConfigInput = serde_json::from_value(serde_json::json!({
            "bucket": "b-1", "region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/r"
        }))
        .unwrap();
        let d = input.validate().unwrap();
        assert_eq!(d.target.prefix, "audit-logs");
        assert_eq!(d.format, FileFormat::Jsonl);
        assert_eq!(d.schema, Schema::Canonical);
        let mut bad = input.clone();
        bad.format = Some("xml".into());
        assert!(matches!(bad.validate(), Err(Error::Invalid { field, .. }) if field == "format"));
        assert_eq!(d.layout, Layout::Standard);
    }

    fn lake_input(extra: serde_json::Value) -> S3ConfigInput {
        let mut body = serde_json::json!({
            "bucket": "aws-security-data-lake-us-east-1-abc", "region": "us-east-1",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "layout": "security_lake",
            "securityLake": {"accountId": "123456789012", "sources": {
                "ACCOUNT_CHANGE": "ar_account_change", "AUTHENTICATION": "ar_authentication",
                "API_ACTIVITY": "ar_api_activity"}}
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        serde_json::from_value(body).unwrap()
    }

    fn bad_field(r: Result<S3Destination, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn security_lake_layout_defaults_and_keys() {
        use serde_json::json;
        let d = lake_input(json!({})).validate().unwrap();
        assert_eq!((d.schema, d.format), (Schema::Ocsf, FileFormat::Parquet));
        assert_eq!(d.target.prefix, "", "no prefix unless one is given");
        let sl = d.layout.security_lake().unwrap();
        assert_eq!(sl.region, "us-east-1", "the bucket's region");
        assert_eq!(
            sl.object_key("", Class::Authentication, "20260522", "b1"),
            "ext/ar_authentication/region=us-east-1/accountId=123456789012/eventDay=20260522/b1.parquet"
        );
        assert_eq!(
            sl.object_key("lake", Class::ApiActivity, "20260522", "b1"),
            "lake/ext/ar_api_activity/region=us-east-1/accountId=123456789012/eventDay=20260522/b1.parquet"
        );
        // Implied by securityLake; kept across an update that gives neither.
        let implied = lake_input(json!({"layout": null})).validate().unwrap();
        assert_eq!(implied.layout, d.layout);
        let again: S3ConfigInput = serde_json::from_value(json!({
            "bucket": "aws-security-data-lake-us-east-1-abc", "region": "us-east-1",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "securityLake": {"region": "eu-west-1"}
        }))
        .unwrap();
        let kept = again.validate_over(Some(&d)).unwrap();
        let k = kept.layout.security_lake().unwrap();
        assert_eq!((k.region.as_str(), &k.sources), ("eu-west-1", &sl.sources));
        let plain: S3ConfigInput = serde_json::from_value(json!({
            "bucket": "b-1", "region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/r"
        }))
        .unwrap();
        assert_eq!(plain.validate_over(Some(&d)).unwrap().layout, d.layout);
        let mut back = plain.clone();
        back.layout = Some("standard".into());
        assert_eq!(
            back.validate_over(Some(&d)).unwrap().layout,
            Layout::Standard
        );
    }

    #[test]
    fn security_lake_layout_names_the_bad_field() {
        use serde_json::json;
        let sources = |a: &str, b: &str, c: &str| json!({"accountId": "123456789012", "sources": {"ACCOUNT_CHANGE": a, "AUTHENTICATION": b, "API_ACTIVITY": c}});
        for (extra, field) in [
            (json!({"schema": "columnar"}), "schema"),
            (json!({"format": "jsonl"}), "format"),
            (json!({"layout": "lake"}), "layout"),
            (json!({"layout": "standard"}), "securityLake"),
            (json!({"securityLake": null}), "securityLake"),
            (
                json!({"securityLake": {"accountId": "12345", "sources": {}}}),
                "securityLake.accountId",
            ),
            (
                json!({"securityLake": {"sources": {"ACCOUNT_CHANGE": "a", "AUTHENTICATION": "b", "API_ACTIVITY": "c"}}}),
                "securityLake.accountId",
            ),
            (
                json!({"securityLake": {"accountId": "123456789012", "sources": {"ACCOUNT_CHANGE": "a", "AUTHENTICATION": "b"}}}),
                "securityLake.sources.API_ACTIVITY",
            ),
            (
                json!({"securityLake": {"accountId": "123456789012", "region": "mars", "sources": {"ACCOUNT_CHANGE": "a", "AUTHENTICATION": "b", "API_ACTIVITY": "c"}}}),
                "securityLake.region",
            ),
            (
                json!({"securityLake": {"accountId": "123456789012", "sources": {"ACCOUNT_CHANGE": "a", "AUTHENTICATION": "b", "API_ACTIVITY": "c", "FILE_ACTIVITY": "d"}}}),
                "securityLake.sources.FILE_ACTIVITY",
            ),
            (
                json!({"securityLake": sources("a", "has space", "c")}),
                "securityLake.sources.AUTHENTICATION",
            ),
            (
                json!({"securityLake": sources("a", "b", "auditrelay_api_activity")}),
                "securityLake.sources.API_ACTIVITY",
            ),
            (
                json!({"securityLake": sources("a", "a", "c")}),
                "securityLake.sources.AUTHENTICATION",
            ),
            (
                json!({"type": "gcs", "roleArn": null, "region": null, "credentialsPath": "g", "bucket": "my_logs"}),
                "type",
            ),
        ] {
            assert_eq!(
                bad_field(lake_input(extra.clone()).validate()),
                field,
                "{extra}"
            );
        }
        assert!(validate_source_name("auditrelay_auth").is_ok());
        assert!(validate_source_name("a.b-c:d_1").is_ok());
        assert!(validate_source_name(&"x".repeat(21)).is_err());
        assert!(validate_source_name("").is_err());
    }
}
