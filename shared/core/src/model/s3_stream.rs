//! The S3 export destination (the AuditExport API's `AuditExportConfig`): its input,
//! validation and the masked view returned by the API.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::ids::OrgId;

/// Default key prefix inside the customer's bucket.
pub const DEFAULT_PREFIX: &str = "audit-logs";

/// File format of the batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    /// One canonical event per line.
    #[serde(rename = "jsonl")]
    Jsonl,
    /// The same, gzip-compressed.
    #[serde(rename = "jsonl.gz")]
    JsonlGz,
}

impl ExportFormat {
    /// The wire name, also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::JsonlGz => "jsonl.gz",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(ExportFormat::Jsonl),
            "jsonl.gz" => Some(ExportFormat::JsonlGz),
            _ => None,
        }
    }

    /// The `Content-Type` of an object.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::JsonlGz => "application/gzip",
        }
    }
}

/// Body of `POST .../audit-export/config` and `.../test-connection` (the AuditExport API,
/// camelCase).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S3ConfigInput {
    /// Bucket name.
    pub bucket: String,
    /// The bucket's region.
    pub region: String,
    /// The role AuditRelay assumes to write.
    pub role_arn: String,
    /// Whether batches are written (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Key prefix (default `audit-logs`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `jsonl` (default) or `jsonl.gz`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A validated destination.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Destination {
    /// Bucket name.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Role ARN.
    pub role_arn: String,
    /// Key prefix, without leading or trailing `/`.
    pub prefix: String,
    /// File format.
    pub format: ExportFormat,
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
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// The role ARN with its account id and role name masked.
    pub role_arn_masked: String,
    /// Enabled.
    pub enabled: bool,
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
    pub format: ExportFormat,
    /// The ExternalId the customer's trust policy must require (read-only, per org).
    pub external_id: String,
    /// Why the destination was paused automatically, if it was.
    pub paused_reason: Option<String>,
}

impl S3ExportConfig {
    /// The API view, with `external_id` of the org.
    pub fn view(&self, external_id: &str) -> S3ConfigView {
        S3ConfigView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            bucket: self.dest.bucket.clone(),
            region: self.dest.region.clone(),
            role_arn_masked: mask_role_arn(&self.dest.role_arn),
            enabled: self.enabled,
            last_tested_at: self.last_tested_at.clone(),
            last_test_ok: self.last_test_ok,
            last_error: self.last_error.clone(),
            last_exported_at: self.last_exported_at.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            prefix: self.dest.prefix.clone(),
            format: self.dest.format,
            external_id: external_id.to_string(),
            paused_reason: self.paused_reason.clone(),
        }
    }
}

/// S3 bucket naming rules (general purpose buckets).
pub fn validate_bucket(name: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(
            "bucket",
            format!("{name:?} is not a valid S3 bucket name: {why}"),
        )
    };
    if !(3..=63).contains(&name.len()) {
        return Err(bad("must be 3 to 63 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(bad(
            "only lowercase letters, digits, '.' and '-' are allowed",
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err(bad("must begin and end with a letter or digit"));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(bad("no adjacent periods or period-hyphen pairs"));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad("must not be formatted as an IP address"));
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return Err(bad("uses a reserved prefix or suffix"));
    }
    Ok(())
}

/// AWS region names such as `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-4`.
pub fn validate_region(region: &str) -> Result<(), Error> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && region.len() <= 32
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| (1..=20).contains(&n));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "region",
            format!("{region:?} is not an AWS region name such as us-east-1"),
        ))
    }
}

/// An IAM role ARN: `arn:{aws|aws-cn|aws-us-gov}:iam::{12 digits}:role/{path/}{name}`.
pub fn validate_role_arn(arn: &str) -> Result<(), Error> {
    let bad = || {
        Error::invalid(
            "roleArn",
            "must be an IAM role ARN such as arn:aws:iam::123456789012:role/AuditRelayExport",
        )
    };
    let rest = arn.strip_prefix("arn:").ok_or_else(bad)?;
    let (partition, rest) = rest.split_once(':').ok_or_else(bad)?;
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err(bad());
    }
    let rest = rest.strip_prefix("iam::").ok_or_else(bad)?;
    let (account, resource) = rest.split_once(':').ok_or_else(bad)?;
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let name_path = resource.strip_prefix("role/").ok_or_else(bad)?;
    let name = name_path.rsplit('/').next().unwrap_or("");
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if name.is_empty()
        || name.len() > 64
        || name_path.len() > 512
        || !name_path.chars().all(|c| valid_char(c) || c == '/')
    {
        return Err(bad());
    }
    Ok(())
}

/// Key prefixes: 1-256 characters of S3's safe set, no leading/trailing `/`, no `//` or `..`.
pub fn validate_prefix(prefix: &str) -> Result<(), Error> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 256
        && !prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//")
        && !prefix.split('/').any(|seg| seg == "." || seg == "..")
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!-_.*'()/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "prefix",
            "must be 1-256 characters of letters, digits and !-_.*'()/ without leading, trailing or doubled '/'",
        ))
    }
}

impl S3ConfigInput {
    /// Validates every field, naming the first bad one.
    pub fn validate(&self) -> Result<S3Destination, Error> {
        validate_bucket(&self.bucket)?;
        validate_region(&self.region)?;
        validate_role_arn(&self.role_arn)?;
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        validate_prefix(&prefix)?;
        let format = match &self.format {
            None => ExportFormat::Jsonl,
            Some(f) => ExportFormat::parse(f)
                .ok_or_else(|| Error::invalid("format", "must be jsonl or jsonl.gz"))?,
        };
        Ok(S3Destination {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            role_arn: self.role_arn.clone(),
            prefix,
            format,
        })
    }
}

/// Masks a role ARN so that neither the account id nor the role name can be read back, while
/// an admin can still recognise it: `arn:aws:iam::********9012:role/Au***`.
pub fn mask_role_arn(arn: &str) -> String {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(_region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return "********".into();
    };
    let tail: String = account
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let name = resource.rsplit('/').next().unwrap_or("");
    let head: String = name.chars().take(2).collect();
    format!("arn:{partition}:{service}::********{tail}:role/{head}***")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<(), Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn bucket_names() {
        for ok in ["my-bucket", "abc", "a.b-c1", "logs.example.com"] {
            assert!(validate_bucket(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "My-Bucket",
            "-abc",
            "abc-",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "a_b",
            &"a".repeat(64),
            "a.-b",
        ] {
            assert_eq!(field(validate_bucket(bad)), "bucket", "{bad}");
        }
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
            "cn-north-1",
        ] {
            assert!(validate_region(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-0",
            "us--1",
            "mars-north-1x",
        ] {
            assert_eq!(field(validate_region(bad)), "region", "{bad}");
        }
    }

    #[test]
    fn role_arns() {
        for ok in [
            "arn:aws:iam::123456789012:role/AuditRelayExport",
            "arn:aws:iam::123456789012:role/service/audit+export=1,x.y@z_w-v",
            "arn:aws-us-gov:iam::123456789012:role/r",
        ] {
            assert!(validate_role_arn(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
            "arn:evil:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/has space",
        ] {
            assert_eq!(field(validate_role_arn(bad)), "roleArn", "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        assert!(validate_prefix("audit-logs").is_ok());
        assert!(validate_prefix("a/b/c").is_ok());
        for bad in ["", "/a", "a/", "a//b", "a/../b", "a b", &"x".repeat(257)] {
            assert_eq!(field(validate_prefix(bad)), "prefix", "{bad:?}");
        }
    }

    #[test]
    fn masking_hides_account_and_role_name() {
        let m = mask_role_arn("arn:aws:iam::123456789012:role/AuditRelayExport");
        assert_eq!(m, "arn:aws:iam::********9012:role/Au***");
        assert!(!m.contains("12345678") && !m.contains("AuditRelayExport"));
        assert_eq!(mask_role_arn("garbage"), "********");
    }

    #[test]
    fn input_defaults_and_format() {
        let input: S3ConfigInput = serde_json::from_value(serde_json::json!({
            "bucket": "b-1", "region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/r"
        }))
        .unwrap();
        let d = input.validate().unwrap();
        assert_eq!(d.prefix, "audit-logs");
        assert_eq!(d.format, ExportFormat::Jsonl);
        let mut bad = input.clone();
        bad.format = Some("parquet".into());
        assert!(matches!(bad.validate(), Err(Error::Invalid { field, .. }) if field == "format"));
    }
}
