//! Assuming the customer's role.
//!
//! Customers trust one stable principal: the stack's access role (`AUDITRELAY_ACCESS_ROLE_ARN`).
//! A function first assumes the access role, then the customer's role with the org's
//! ExternalId, which the service generated and no customer can choose: org A cannot make
//! AuditRelay write with org B's role, because B's trust policy requires B's ExternalId.

use aws_sdk_s3::config::{Credentials, Region};

use crate::clients::Clients;
use relay_core::model::bucket::mask_role_arn;

/// Why a role could not be assumed.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// STS refused: the trust policy does not allow us, or the ExternalId does not match.
    /// The text shows neither the role ARN nor the ExternalId in clear: it ends up in
    /// `lastError` and run records, which any admin of the org reads.
    #[error("could not assume role {role_arn_masked}: {detail}. Check that the role's trust policy allows {principal} with the condition sts:ExternalId = the org's ExternalId (GET /orgs/{{orgId}}/audit-export/setup shows it)")]
    NotAssumable {
        /// The role, masked.
        role_arn_masked: String,
        /// STS's message, with the role ARN and ExternalId masked.
        detail: String,
        /// Who must be trusted.
        principal: String,
    },
    /// The stack's own access role could not be assumed (a deployment problem).
    #[error("AuditRelay could not assume its access role {0}: {1}")]
    AccessRole(String, String),
    /// Network or service failure.
    #[error("STS unavailable: {0}")]
    Unavailable(String),
}

fn err_text<E: std::error::Error + 'static>(e: &aws_sdk_sts::error::SdkError<E>) -> String {
    format!("{}", aws_sdk_sts::error::DisplayErrorContext(e))
}

/// A session name STS accepts (`[\w+=,.@-]{2,64}`) that tells the customer's CloudTrail who
/// we are and for which org.
pub fn session_name(org_id: &str) -> String {
    let cleaned: String = format!("auditrelay-{org_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned.chars().take(64).collect()
}

async fn assume(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    session: &str,
    external_id: Option<&str>,
) -> Result<Credentials, (bool, String)> {
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session)
        .set_external_id(external_id.map(str::to_string))
        .duration_seconds(3600)
        .send()
        .await
        .map_err(|e| {
            let denied = e
                .as_service_error()
                .map(|se| {
                    use aws_sdk_sts::error::ProvideErrorMetadata;
                    matches!(
                        se.code(),
                        Some("AccessDenied") | Some("AccessDeniedException")
                    ) || se.is_malformed_policy_document_exception()
                        || se.is_region_disabled_exception()
                })
                .unwrap_or(false);
            (denied, err_text(&e))
        })?;
    let c = out
        .credentials()
        .ok_or((false, "AssumeRole returned no credentials".to_string()))?;
    let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        expiry,
        "auditrelay-assume-role",
    ))
}

/// Credentials of the stack's own principal: the access role when one is configured (the
/// principal a customer's bucket policy names), else the function's own.
pub async fn stack_credentials(
    clients: &Clients,
    access_role_arn: Option<&str>,
    org_id: &str,
) -> Result<Option<Credentials>, RoleError> {
    let Some(access) = access_role_arn else {
        return Ok(None);
    };
    assume(&clients.sts, access, &session_name(org_id), None)
        .await
        .map(Some)
        .map_err(|(_, d)| RoleError::AccessRole(access.to_string(), d))
}

/// Credentials of the customer's role, assumed with the org's ExternalId.
pub async fn customer_credentials(
    clients: &Clients,
    access_role_arn: Option<&str>,
    role_arn: &str,
    external_id: &str,
    org_id: &str,
) -> Result<Credentials, RoleError> {
    let session = session_name(org_id);
    let sts = match access_role_arn {
        Some(access) => {
            let creds = assume(&clients.sts, access, &session, None)
                .await
                .map_err(|(_, d)| RoleError::AccessRole(access.to_string(), d))?;
            let conf = aws_sdk_sts::config::Builder::from(&clients.sdk)
                .credentials_provider(creds)
                .build();
            aws_sdk_sts::Client::from_conf(conf)
        }
        None => clients.sts.clone(),
    };
    assume(&sts, role_arn, &session, Some(external_id))
        .await
        .map_err(|(denied, detail)| {
            let masked = mask_role_arn(role_arn);
            let detail = detail
                .replace(role_arn, &masked)
                .replace(external_id, "(the org's ExternalId)");
            if denied {
                RoleError::NotAssumable {
                    role_arn_masked: masked,
                    detail,
                    principal: access_role_arn
                        .unwrap_or("the AuditRelay stack")
                        .to_string(),
                }
            } else {
                RoleError::Unavailable(detail)
            }
        })
}

/// An S3 client acting with `creds` (the function's own when `None`) in `region`.
pub fn s3_client(
    clients: &Clients,
    creds: Option<Credentials>,
    region: &str,
) -> aws_sdk_s3::Client {
    let mut conf = aws_sdk_s3::config::Builder::from(&clients.sdk)
        .region(Region::new(region.to_string()))
        // Emulators (moto) are reached by path-style URLs; AWS takes virtual-hosted style.
        .force_path_style(clients.custom_endpoint().is_some())
        // A stuck upload must not hold the org's lease: bound every attempt.
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(60))
                .operation_timeout(std::time::Duration::from_secs(180))
                .build(),
        );
    if let Some(creds) = creds {
        conf = conf.credentials_provider(creds);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

/// The trust and permission policies a customer attaches to the role they create for
/// AuditRelay, and the ExternalId to require (also in the README).
pub fn setup_policies(
    principal_arn: &str,
    external_id: &str,
    bucket: &str,
    prefix: &str,
) -> SetupView {
    // The statements stay JSON: IAM's grammar (`Principal`, `Condition`...) is AWS's, and
    // they are meant to be pasted into IAM as they are.
    let statements = |v: serde_json::Value| PolicyDocument {
        version: POLICY_VERSION,
        statement: match v {
            serde_json::Value::Array(list) => list,
            other => vec![other],
        },
    };
    SetupView {
        external_id: external_id.to_string(),
        principal_arn: principal_arn.to_string(),
        trust_policy: statements(serde_json::json!([{
            "Effect": "Allow",
            "Principal": {"AWS": principal_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
        }])),
        permission_policy: statements(serde_json::json!([
            {
                "Sid": "AuditRelayWriteBatches",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{prefix}/*")
            },
            {
                "Sid": "AuditRelayDeleteConnectionTestObject",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{prefix}/.verify/*")
            }
        ])),
        // The other model (`"access": "bucket_policy"`): no role; the bucket itself lets the
        // stack's principal put objects under the prefix, and nothing else.
        bucket_policy: statements(serde_json::json!([{
            "Sid": "AuditRelayPutObjects",
            "Effect": "Allow",
            "Principal": {"AWS": principal_arn},
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{prefix}/*")
        }])),
    }
}

/// The IAM policy language's version every policy here is written in.
const POLICY_VERSION: &str = "2012-10-17";

/// An IAM policy document, as IAM reads it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct PolicyDocument {
    /// `2012-10-17`.
    #[serde(rename = "Version")]
    #[schema(value_type = String, pattern = "^2012-10-17$")]
    pub version: &'static str,
    /// IAM statements (`Sid`, `Effect`, `Principal`, `Action`, `Resource`, `Condition`).
    #[serde(rename = "Statement")]
    #[schema(value_type = Vec<Object>)]
    pub statement: Vec<serde_json::Value>,
}

/// The answer of `GET .../audit-export/setup`: what a customer grants, for either access
/// model.
#[derive(Debug, Clone, serde::Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetupView {
    /// The org's ExternalId (the role's trust policy requires it).
    pub external_id: String,
    /// The stack's principal that assumes the role or writes to the bucket.
    pub principal_arn: String,
    /// The role's trust policy (`"access": "role"`).
    pub trust_policy: PolicyDocument,
    /// The role's permission policy (`"access": "role"`).
    pub permission_policy: PolicyDocument,
    /// The bucket policy (`"access": "bucket_policy"`).
    pub bucket_policy: PolicyDocument,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_show_neither_the_role_nor_the_external_id() {
        let e = RoleError::NotAssumable {
            role_arn_masked: mask_role_arn("arn:aws:iam::123456789012:role/AuditRelayExport"),
            detail: "AccessDenied".into(),
            principal: "arn:aws:iam::999999999999:role/stack-customer-access".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("arn:aws:iam::********9012:role/Au***"),
            "{text}"
        );
        assert!(!text.contains("123456789012") && !text.contains("AuditRelayExport"));
        assert!(text.contains("the org's ExternalId"), "{text}");
    }

    #[test]
    fn session_names_are_valid_for_sts() {
        assert_eq!(session_name("org_01ABC"), "auditrelay-org_01ABC");
        let long = session_name(&"x".repeat(100));
        assert_eq!(long.len(), 64);
        assert_eq!(session_name("org/1 2"), "auditrelay-org-1-2");
    }
}
