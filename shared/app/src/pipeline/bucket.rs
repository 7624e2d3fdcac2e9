//! The connection test (the AuditExport API's "write+delete dry-run", with a "Verify"-style
//! test file): assume the role, write `{prefix}/.verify/auditrelay-verify-test-{timestamp}`,
//! delete it, and explain any failure in words an admin can act on.

use serde::Serialize;
use time::OffsetDateTime;

use super::role::customer_s3;
use crate::clients::Clients;
use relay_core::model::ids::OrgId;
use relay_core::model::s3_stream::S3Destination;

/// The AuditExport API's `AuditExportTestResult`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestResult {
    /// Whether the write and the delete both worked.
    pub success: bool,
    /// What failed and what to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Turns an S3 error code into advice. `op` is what we tried (`write`, `delete`).
pub fn explain_s3_error(
    code: Option<&str>,
    detail: &str,
    dest: &S3Destination,
    op: &str,
) -> String {
    let b = &dest.bucket;
    match code {
        Some("AccessDenied") | Some("AllAccessDisabled") => match op {
            "delete" => format!(
                "access denied deleting the test object from s3://{b}/{}/.verify/: the role's policy must allow s3:DeleteObject on arn:aws:s3:::{b}/{}/.verify/*",
                dest.prefix, dest.prefix
            ),
            _ => format!(
                "access denied writing to s3://{b}/{}/: the role's policy must allow s3:PutObject on arn:aws:s3:::{b}/{}/*, and the bucket policy and KMS key (if any) must not deny it",
                dest.prefix, dest.prefix
            ),
        },
        Some("NoSuchBucket") => format!("bucket {b} does not exist (check the name and the account)"),
        Some("PermanentRedirect") | Some("AuthorizationHeaderMalformed") | Some("IllegalLocationConstraintException") => format!(
            "bucket {b} is not in region {}: set region to the bucket's region",
            dest.region
        ),
        Some("InvalidAccessKeyId") | Some("ExpiredToken") | Some("InvalidToken") => {
            "the assumed role's credentials were refused by S3; try again, and check that the role is not restricted by an SCP".to_string()
        }
        Some("KMS.DisabledException") | Some("KMSAccessDenied") | Some("KMS.NotFoundException") => format!(
            "the bucket's default KMS key refused the write: allow the role kms:GenerateDataKey on it ({detail})"
        ),
        _ => format!("S3 {op} failed: {detail}"),
    }
}

/// An S3 error's code (a 301 without a body counts as `PermanentRedirect`) and its full text.
pub fn s3_error<E>(e: &aws_sdk_s3::error::SdkError<E>) -> (Option<String>, String)
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    let code = e
        .as_service_error()
        .and_then(|se| se.code().map(str::to_string));
    let code = code.or_else(|| {
        // A 301 to another region carries no parsable body on some operations.
        e.raw_response()
            .filter(|r| r.status().as_u16() == 301)
            .map(|_| "PermanentRedirect".to_string())
    });
    (
        code,
        format!("{}", aws_sdk_s3::error::DisplayErrorContext(e)),
    )
}

/// Explains a failed PutObject.
pub fn explain_put_error<E>(e: &aws_sdk_s3::error::SdkError<E>, dest: &S3Destination) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    let (code, detail) = s3_error(e);
    explain_s3_error(code.as_deref(), &detail, dest, "write")
}

/// Runs the dry run against `dest` as the org's role.
pub async fn test_connection(
    clients: &Clients,
    access_role_arn: Option<&str>,
    dest: &S3Destination,
    external_id: &str,
    org_id: &OrgId,
    now: OffsetDateTime,
) -> TestResult {
    let fail = |error: String| TestResult {
        success: false,
        error: Some(error),
    };
    let s3 = match customer_s3(
        clients,
        access_role_arn,
        &dest.role_arn,
        external_id,
        &dest.region,
        org_id,
    )
    .await
    {
        Ok(s3) => s3,
        Err(e) => return fail(e.to_string()),
    };
    let key = format!(
        "{}/.verify/auditrelay-verify-test-{}",
        dest.prefix,
        now.unix_timestamp_nanos() / 1_000_000
    );
    let body = format!(
        "AuditRelay connection test for {org_id} at {now}. Safe to delete; AuditRelay deletes it itself when it can.\n"
    );
    if let Err(e) = s3
        .put_object()
        .bucket(&dest.bucket)
        .key(&key)
        .content_type("text/plain")
        .body(body.into_bytes().into())
        .send()
        .await
    {
        return fail(explain_put_error(&e, dest));
    }
    if let Err(e) = s3
        .delete_object()
        .bucket(&dest.bucket)
        .key(&key)
        .send()
        .await
    {
        let (code, detail) = s3_error(&e);
        return fail(explain_s3_error(code.as_deref(), &detail, dest, "delete"));
    }
    TestResult {
        success: true,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_core::model::s3_stream::ExportFormat;

    fn dest() -> S3Destination {
        S3Destination {
            bucket: "acme-audit".into(),
            region: "eu-west-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            prefix: "audit-logs".into(),
            format: ExportFormat::Jsonl,
        }
    }

    #[test]
    fn errors_are_explained() {
        let d = dest();
        assert!(explain_s3_error(Some("AccessDenied"), "", &d, "write")
            .contains("s3:PutObject on arn:aws:s3:::acme-audit/audit-logs/*"));
        assert!(
            explain_s3_error(Some("AccessDenied"), "", &d, "delete").contains("s3:DeleteObject")
        );
        assert!(explain_s3_error(Some("NoSuchBucket"), "", &d, "write").contains("does not exist"));
        assert!(explain_s3_error(Some("PermanentRedirect"), "", &d, "write")
            .contains("not in region eu-west-1"));
        assert!(
            explain_s3_error(Some("AuthorizationHeaderMalformed"), "", &d, "write")
                .contains("region")
        );
        assert!(explain_s3_error(None, "timeout", &d, "write").contains("timeout"));
    }
}
