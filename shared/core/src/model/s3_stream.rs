//! The continuous export (the AuditExport API's `AuditExportConfig`): five-minute batches in
//! the customer's bucket on any supported store; its input, validation and the masked view
//! returned by the API.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::bucket::{
    mask_role_arn, Access, BucketTarget, FieldNames, StoreType, TargetInput,
};
use crate::model::file_format::{file_shape, FileFormat};
use crate::model::ids::OrgId;
use crate::shapes::Schema;

/// Body of `POST .../audit-export/config` and `.../test-connection` (the AuditExport API,
/// camelCase, plus the fields of the other stores).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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
#[derive(Debug, Serialize)]
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
    pub schema: &'static str,
    /// The ExternalId the customer's trust policy must require (read-only, per org).
    pub external_id: String,
    /// Why the destination was paused automatically, if it was.
    pub paused_reason: Option<String>,
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
        }
    }
}

impl S3ConfigInput {
    /// Validates every field, naming the first bad one.
    pub fn validate(&self) -> Result<S3Destination, Error> {
        let target = TargetInput {
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
        let (schema, format) = file_shape(
            self.schema.as_deref(),
            self.format.as_deref(),
            "schema",
            "format",
        )?;
        Ok(S3Destination {
            target,
            format,
            schema,
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
    }
}
