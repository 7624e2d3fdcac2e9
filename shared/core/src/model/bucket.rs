//! Where the service writes files, and how it reaches them: a bucket (or container) in one of
//! the supported object stores, the key prefix inside it, and the access it writes with. The
//! continuous export and export jobs share this shape, its validation and its masking.

use serde::Serialize;

use crate::error::Error;

/// Default key prefix inside the customer's bucket.
pub const DEFAULT_PREFIX: &str = "audit-logs";

/// Region used to sign requests to an S3-compatible store that names none.
pub const DEFAULT_COMPAT_REGION: &str = "us-east-1";

/// The kind of object store.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreType {
    /// Amazon S3 or any S3-compatible store (MinIO, Cloudflare R2, Ceph, GCS's
    /// interoperability endpoint).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    AzureBlob,
}

impl StoreType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreType::S3 => "s3",
            StoreType::Gcs => "gcs",
            StoreType::AzureBlob => "azure_blob",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "s3" => Some(StoreType::S3),
            "gcs" => Some(StoreType::Gcs),
            "azure_blob" => Some(StoreType::AzureBlob),
            _ => None,
        }
    }

    /// What a person calls the store.
    pub fn label(self) -> &'static str {
        match self {
            StoreType::S3 => "S3",
            StoreType::Gcs => "GCS",
            StoreType::AzureBlob => "Azure Blob",
        }
    }
}

/// How the service is allowed to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// It assumes the customer's IAM role with the org's ExternalId (Amazon S3).
    Role(String),
    /// It signs with stored credentials, named by their `name` (stores without IAM).
    Credentials(String),
    /// The customer's bucket policy grants the stack's own principal `s3:PutObject`; the
    /// destination must be verified (ownership token) before anything is exported.
    BucketPolicy,
}

impl Access {
    /// The wire name: `role`, `credentials` or `bucket_policy`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Access::Role(_) => "role",
            Access::Credentials(_) => "credentials",
            Access::BucketPolicy => "bucket_policy",
        }
    }
}

/// A validated place to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketTarget {
    /// The store.
    pub store: StoreType,
    /// Bucket (the container, on Azure).
    pub bucket: String,
    /// Signing region (S3); empty where the store has none.
    pub region: String,
    /// Key prefix, without leading or trailing `/`.
    pub prefix: String,
    /// How the service writes.
    pub access: Access,
    /// Another endpoint than the store's public one (S3-compatible stores, emulators,
    /// private or sovereign endpoints).
    pub endpoint_url: Option<String>,
    /// Path-style S3 requests (`{endpoint}/{bucket}/{key}`) instead of virtual-hosted ones.
    pub force_path_style: bool,
    /// Azure storage account (else the stored credential's).
    pub account_name: Option<String>,
}

impl BucketTarget {
    /// The role ARN, when the service assumes a role.
    pub fn role_arn(&self) -> Option<&str> {
        match &self.access {
            Access::Role(arn) => Some(arn),
            _ => None,
        }
    }

    /// The stored credential's name, when the service signs with one.
    pub fn credentials_path(&self) -> Option<&str> {
        match &self.access {
            Access::Credentials(name) => Some(name),
            _ => None,
        }
    }

    /// The bucket and prefix as a URL a person recognises (`s3://b/p/`, `gs://b/p/`,
    /// `https://{account}.blob.core.windows.net/{container}/p/`).
    pub fn location(&self) -> String {
        match self.store {
            StoreType::S3 => format!("s3://{}/{}/", self.bucket, self.prefix),
            StoreType::Gcs => format!("gs://{}/{}/", self.bucket, self.prefix),
            StoreType::AzureBlob => format!(
                "azure://{}/{}/{}/",
                self.account_name.as_deref().unwrap_or("(account)"),
                self.bucket,
                self.prefix
            ),
        }
    }
}

/// The API names of the fields of a destination: the continuous export's are camelCase, an
/// export job's follow its own documented names (`credentials_path`, `endpoint_url`).
#[derive(Debug, Clone, Copy)]
pub struct FieldNames {
    /// Prefix of every name (`destination.` for export jobs).
    pub at: &'static str,
    /// `credentialsPath` or `credentials_path`.
    pub credentials_path: &'static str,
    /// `endpointUrl` or `endpoint_url`.
    pub endpoint_url: &'static str,
    /// `forcePathStyle` or `force_path_style`.
    pub force_path_style: &'static str,
    /// `accountName` or `account_name`.
    pub account_name: &'static str,
}

impl FieldNames {
    /// The continuous export's names.
    pub const CONFIG: FieldNames = FieldNames {
        at: "",
        credentials_path: "credentialsPath",
        endpoint_url: "endpointUrl",
        force_path_style: "forcePathStyle",
        account_name: "accountName",
    };

    /// An export job destination's names.
    pub const JOB: FieldNames = FieldNames {
        at: "destination",
        credentials_path: "credentials_path",
        endpoint_url: "endpoint_url",
        force_path_style: "force_path_style",
        account_name: "account_name",
    };

    fn name(&self, field: &str) -> String {
        crate::decode::field_path(self.at, field)
    }

    fn invalid(&self, field: &str, message: impl Into<String>) -> Error {
        Error::invalid(self.name(field), message)
    }
}

/// A destination as given, before validation.
#[derive(Debug, Clone, Default)]
pub struct TargetInput {
    /// `s3` (default), `gcs` or `azure_blob`.
    pub kind: Option<String>,
    /// Bucket or container.
    pub bucket: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Key prefix (default `audit-logs`).
    pub prefix: Option<String>,
    /// Role to assume.
    pub role_arn: Option<String>,
    /// Stored credential's name.
    pub credentials_path: Option<String>,
    /// `role`, `credentials` or `bucket_policy` (else implied by the other fields).
    pub access: Option<String>,
    /// Endpoint URL.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (S3).
    pub force_path_style: Option<bool>,
    /// Azure storage account.
    pub account_name: Option<String>,
}

impl TargetInput {
    /// Validates every field, naming the first bad one as `names` says.
    pub fn validate(&self, names: FieldNames) -> Result<BucketTarget, Error> {
        let store = match self.kind.as_deref() {
            None => StoreType::S3,
            Some(k) => StoreType::parse(k)
                .ok_or_else(|| names.invalid("type", "must be s3, gcs or azure_blob"))?,
        };
        let under = |e: Error| match e {
            Error::Invalid { field, message } => names.invalid(&field, message),
            other => other,
        };
        let bucket = self
            .bucket
            .clone()
            .ok_or_else(|| names.invalid("bucket", "is required"))?;
        match store {
            StoreType::S3 => validate_bucket(&bucket),
            StoreType::Gcs => validate_gcs_bucket(&bucket),
            StoreType::AzureBlob => validate_container(&bucket),
        }
        .map_err(under)?;
        let access = self.access(store, names)?;
        if let Some(name) = access_credentials(&access) {
            validate_credential_name(name).map_err(|m| names.invalid(names.credentials_path, m))?;
        }
        if let Access::Role(arn) = &access {
            validate_role_arn(arn).map_err(under)?;
        }
        let endpoint_url = match &self.endpoint_url {
            None => None,
            Some(u) => {
                Some(validate_endpoint_url(u).map_err(|m| names.invalid(names.endpoint_url, m))?)
            }
        };
        if store != StoreType::S3 && self.force_path_style.is_some() {
            return Err(names.invalid(names.force_path_style, "is only for type s3"));
        }
        if store != StoreType::AzureBlob && self.account_name.is_some() {
            return Err(names.invalid(names.account_name, "is only for type azure_blob"));
        }
        if let Some(a) = &self.account_name {
            validate_account_name(a).map_err(|m| names.invalid(names.account_name, m))?;
        }
        let region = match (store, &access, &endpoint_url) {
            // Amazon S3 itself: a real region, which signing and the endpoint depend on.
            (StoreType::S3, Access::Role(_) | Access::BucketPolicy, None) => {
                let r = self
                    .region
                    .clone()
                    .ok_or_else(|| names.invalid("region", "is required"))?;
                validate_region(&r).map_err(under)?;
                r
            }
            // S3-compatible stores name regions as they like (`auto`, `garage`).
            (StoreType::S3, _, _) => {
                let r = self
                    .region
                    .clone()
                    .unwrap_or_else(|| DEFAULT_COMPAT_REGION.to_string());
                if r.is_empty() || r.len() > 64 || r.chars().any(|c| c.is_whitespace()) {
                    return Err(names.invalid(
                        "region",
                        "must be 1-64 characters without spaces (any name the store uses, e.g. auto)",
                    ));
                }
                r
            }
            _ => match &self.region {
                Some(_) => {
                    return Err(names.invalid(
                        "region",
                        "is only for type s3 (the bucket's location is the store's business)",
                    ))
                }
                None => String::new(),
            },
        };
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        validate_prefix(&prefix).map_err(under)?;
        Ok(BucketTarget {
            store,
            bucket,
            region,
            prefix,
            force_path_style: self
                .force_path_style
                .unwrap_or(store == StoreType::S3 && endpoint_url.is_some()),
            access,
            endpoint_url,
            account_name: self.account_name.clone(),
        })
    }

    fn access(&self, store: StoreType, names: FieldNames) -> Result<Access, Error> {
        let role = self.role_arn.clone();
        let creds = self.credentials_path.clone();
        if role.is_some() && creds.is_some() {
            return Err(names.invalid(
                names.credentials_path,
                "use either roleArn or a stored credential, not both",
            ));
        }
        if store != StoreType::S3 && role.is_some() {
            return Err(names.invalid(
                "roleArn",
                "is only for type s3: use credentialsPath with a stored credential",
            ));
        }
        let wanted = self.access.as_deref();
        match (wanted, role, creds) {
            (Some("bucket_policy"), None, None) if store == StoreType::S3 => {
                Ok(Access::BucketPolicy)
            }
            (Some("bucket_policy"), None, None) => {
                Err(names.invalid("access", "bucket_policy is only for type s3 (Amazon S3)"))
            }
            (Some("bucket_policy"), _, _) => Err(names.invalid(
                "access",
                "bucket_policy takes neither roleArn nor a stored credential",
            )),
            (Some("role") | None, Some(arn), None) => Ok(Access::Role(arn)),
            (Some("credentials") | None, None, Some(name)) => Ok(Access::Credentials(name)),
            (Some(a @ ("role" | "credentials")), _, _) => Err(names.invalid(
                if a == "role" {
                    "roleArn"
                } else {
                    names.credentials_path
                },
                format!("is required with access {a}"),
            )),
            (Some(_), _, _) => {
                Err(names.invalid("access", "must be role, credentials or bucket_policy"))
            }
            (None, None, None) if store == StoreType::S3 => Err(names.invalid(
                "roleArn",
                format!(
                    "is required (or {} with a stored credential, or access bucket_policy)",
                    names.credentials_path
                ),
            )),
            (None, _, _) => Err(names.invalid(
                names.credentials_path,
                format!("is required for type {}", store.as_str()),
            )),
        }
    }
}

fn access_credentials(a: &Access) -> Option<&str> {
    match a {
        Access::Credentials(n) => Some(n),
        _ => None,
    }
}

/// An endpoint URL as given: `http(s)://host[:port][/path]`, no user info, query or
/// fragment. Returns it without a trailing `/`. (Where it may point is the SSRF guard's
/// business, checked with DNS when it is saved and at every connection.)
pub fn validate_endpoint_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("is not a URL ({e}): use e.g. https://minio.example.com"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err("must be an https:// URL".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials: store them with the credentials API".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Google Cloud Storage bucket names: 3-63 characters (up to 222 with dots) of lowercase
/// letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit.
pub fn validate_gcs_bucket(name: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(
            "bucket",
            format!("{name:?} is not a valid GCS bucket name: {why}"),
        )
    };
    let max = if name.contains('.') { 222 } else { 63 };
    if name.len() < 3 || name.len() > max || name.split('.').any(|p| p.len() > 63) {
        return Err(bad(
            "must be 3 to 63 characters (222 with dots, 63 between them)",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
    {
        return Err(bad(
            "only lowercase letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err(bad("must begin and end with a letter or digit"));
    }
    if name.starts_with("goog") || name.contains("google") {
        return Err(bad("must not begin with goog or contain google"));
    }
    Ok(())
}

/// Azure container names: 3-63 characters of lowercase letters, digits and single hyphens,
/// beginning with a letter or digit.
pub fn validate_container(name: &str) -> Result<(), Error> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "bucket",
            format!("{name:?} is not a valid Azure container name: 3-63 lowercase letters, digits and single hyphens, not at either end"),
        ))
    }
}

/// Azure storage account names: 3-24 lowercase letters and digits.
pub fn validate_account_name(name: &str) -> Result<(), String> {
    if (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an Azure storage account name: 3-24 lowercase letters and digits"
        ))
    }
}

/// Names of stored credentials: 1-64 characters of letters, digits, `-`, `_` and `.`,
/// beginning with a letter or digit (they appear in URL paths).
pub fn validate_credential_name(name: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err("must be 1-64 letters, digits, '-', '_' or '.', beginning with a letter or digit")
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

    fn target(v: serde_json::Value) -> Result<BucketTarget, Error> {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        TargetInput {
            kind: s("type"),
            bucket: s("bucket"),
            region: s("region"),
            prefix: s("prefix"),
            role_arn: s("roleArn"),
            credentials_path: s("credentialsPath"),
            access: s("access"),
            endpoint_url: s("endpointUrl"),
            force_path_style: v.get("forcePathStyle").and_then(|x| x.as_bool()),
            account_name: s("accountName"),
        }
        .validate(FieldNames::CONFIG)
    }

    fn bad_field(v: serde_json::Value) -> String {
        match target(v) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn targets_of_each_type() {
        use serde_json::json;
        let role = target(json!({"bucket": "b-1", "region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/r"})).unwrap();
        assert_eq!(role.store, StoreType::S3);
        assert_eq!(role.role_arn(), Some("arn:aws:iam::123456789012:role/r"));
        assert!(!role.force_path_style);
        let compat = target(json!({"bucket": "b-1", "region": "garage", "endpointUrl": "https://minio.example.com/", "credentialsPath": "minio-prod"})).unwrap();
        assert_eq!(compat.credentials_path(), Some("minio-prod"));
        assert_eq!(
            compat.endpoint_url.as_deref(),
            Some("https://minio.example.com")
        );
        assert!(
            compat.force_path_style,
            "custom endpoints default to path style"
        );
        let compat = target(json!({"bucket": "b-1", "credentialsPath": "r2"})).unwrap();
        assert_eq!(compat.region, DEFAULT_COMPAT_REGION);
        let policy =
            target(json!({"bucket": "b-1", "region": "eu-west-1", "access": "bucket_policy"}))
                .unwrap();
        assert_eq!(policy.access, Access::BucketPolicy);
        let gcs =
            target(json!({"type": "gcs", "bucket": "my_logs", "credentialsPath": "gcp"})).unwrap();
        assert_eq!((gcs.store, gcs.region.as_str()), (StoreType::Gcs, ""));
        assert_eq!(gcs.location(), "gs://my_logs/audit-logs/");
        let az = target(json!({"type": "azure_blob", "bucket": "audit", "accountName": "acme1", "credentialsPath": "az"})).unwrap();
        assert_eq!(az.location(), "azure://acme1/audit/audit-logs/");
    }

    #[test]
    fn targets_name_the_bad_field() {
        use serde_json::json;
        for (v, field) in [
            (json!({"type": "ftp", "bucket": "b-1"}), "type"),
            (
                json!({"region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/r"}),
                "bucket",
            ),
            (json!({"bucket": "b-1", "region": "us-east-1"}), "roleArn"),
            (
                json!({"bucket": "b-1", "region": "auto", "roleArn": "arn:aws:iam::123456789012:role/r"}),
                "region",
            ),
            (
                json!({"bucket": "b-1", "roleArn": "arn:aws:iam::123456789012:role/r", "credentialsPath": "x"}),
                "credentialsPath",
            ),
            (json!({"type": "gcs", "bucket": "b-1"}), "credentialsPath"),
            (
                json!({"type": "gcs", "bucket": "b-1", "roleArn": "arn:aws:iam::123456789012:role/r"}),
                "roleArn",
            ),
            (
                json!({"type": "gcs", "bucket": "b-1", "credentialsPath": "x", "region": "eu"}),
                "region",
            ),
            (
                json!({"type": "gcs", "bucket": "b-1", "credentialsPath": "x", "forcePathStyle": true}),
                "forcePathStyle",
            ),
            (
                json!({"type": "azure_blob", "bucket": "Bad", "credentialsPath": "x"}),
                "bucket",
            ),
            (
                json!({"type": "azure_blob", "bucket": "ok-1", "credentialsPath": "x", "accountName": "No"}),
                "accountName",
            ),
            (
                json!({"bucket": "b-1", "credentialsPath": "bad name"}),
                "credentialsPath",
            ),
            (
                json!({"bucket": "b-1", "credentialsPath": "x", "endpointUrl": "ftp://h"}),
                "endpointUrl",
            ),
            (
                json!({"bucket": "b-1", "credentialsPath": "x", "endpointUrl": "https://u:p@h"}),
                "endpointUrl",
            ),
            (
                json!({"bucket": "b-1", "region": "us-east-1", "access": "bucket_policy", "roleArn": "arn:aws:iam::123456789012:role/r"}),
                "access",
            ),
            (
                json!({"type": "gcs", "bucket": "b-1", "access": "bucket_policy"}),
                "access",
            ),
            (json!({"bucket": "b-1", "access": "open"}), "access"),
        ] {
            assert_eq!(bad_field(v.clone()), field, "{v}");
        }
        let job = TargetInput {
            kind: Some("gcs".into()),
            bucket: Some("b-1".into()),
            ..TargetInput::default()
        }
        .validate(FieldNames::JOB);
        assert!(
            matches!(job, Err(Error::Invalid { field, .. }) if field == "destination.credentials_path")
        );
    }

    #[test]
    fn store_specific_names() {
        assert!(validate_gcs_bucket("my_bucket.logs").is_ok());
        assert!(validate_gcs_bucket("googlelogs").is_err());
        assert!(validate_container("audit-logs").is_ok());
        assert!(validate_container("audit--logs").is_err());
        assert!(validate_credential_name("minio-prod").is_ok());
        assert!(validate_credential_name("-x").is_err());
    }
}
