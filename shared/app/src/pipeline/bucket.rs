//! Reaching a customer's bucket: [`Buckets`] opens a [`BucketWriter`] for a destination with
//! the access it names (the customer's role, the stack's own principal, or stored
//! credentials), and runs the connection test (the AuditExport API's "write+delete dry-run"
//! with a "Verify"-style test file), explaining any failure in words an admin can act on.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::bucket_writer::{BucketWriter, FailureKind, Limits, Signing, StoreHttp, WriteFailure};
use super::role::{customer_credentials, s3_client, stack_credentials, RoleError};
use super::ssrf::SsrfPolicy;
use crate::clients::Clients;
use crate::credentials::Sealer;
use relay_core::error::Error;
use relay_core::model::bucket::{Access, BucketTarget, FieldNames, StoreType};
use relay_core::model::ids::OrgId;
use relay_store::Store;

/// The AuditExport API's `AuditExportTestResult`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = S3TestResult)]
pub struct TestResult {
    /// Whether the write (and, for a role, the delete) worked.
    pub success: bool,
    /// What failed and what to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The ownership-token file left in the bucket (bucket-policy access): its content is
    /// the token to post to `.../audit-export/verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_object: Option<String>,
}

impl TestResult {
    pub(crate) fn failed(error: String) -> Self {
        TestResult {
            success: false,
            error: Some(error),
            verification_object: None,
        }
    }
}

/// The account id of an ARN (`arn:aws:iam::123456789012:role/x` → `123456789012`).
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Opens customers' buckets. Built once per cold start; cheap to clone.
#[derive(Debug, Clone)]
pub struct Buckets {
    clients: Clients,
    access_role_arn: Option<String>,
    policy: SsrfPolicy,
    http: StoreHttp,
    sealer: Sealer,
}

impl Buckets {
    /// Buckets reached through `clients`, as the stack's `access_role_arn` when set, with
    /// endpoints under `policy` and credentials opened by `sealer`.
    pub fn new(
        clients: Clients,
        access_role_arn: Option<String>,
        policy: SsrfPolicy,
        sealer: Sealer,
    ) -> Self {
        Buckets {
            clients,
            access_role_arn,
            policy,
            http: StoreHttp::new(policy),
            sealer,
        }
    }

    /// As configured for this deployment.
    pub fn from_config(config: &relay_core::config::Config, clients: &Clients) -> Self {
        Buckets::new(
            clients.clone(),
            config.access_role_arn.clone(),
            SsrfPolicy::new(config.allow_private_destinations),
            Sealer::new(clients.kms.clone(), config.credentials_key_id.clone()),
        )
    }

    /// The stack's access role, which customers' trust and bucket policies name.
    pub fn access_role_arn(&self) -> Option<&str> {
        self.access_role_arn.as_deref()
    }

    /// Refuses a customer role in the service's own AWS account (the access role's): a
    /// customer's export must never be a way to act as one of the provider's roles.
    pub fn check_foreign_role(&self, role_arn: &str) -> Result<(), String> {
        let own = self.access_role_arn.as_deref().and_then(arn_account);
        match (own, arn_account(role_arn)) {
            (Some(own), Some(theirs)) if own == theirs => Err(format!(
                "names a role in the service's own AWS account ({own}); grant a role in your account"
            )),
            _ => Ok(()),
        }
    }

    /// The endpoint policy.
    pub fn policy(&self) -> SsrfPolicy {
        self.policy
    }

    /// The credential sealer.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Checks what validation alone cannot, and fills in what a stored credential implies:
    /// the endpoint passes the SSRF guard; the stored credential exists and signs for this
    /// store (and account); an Azure account comes from the credential when not given.
    /// Errors name fields as `names` says.
    pub async fn prepare(
        &self,
        store: &Store,
        org_id: &OrgId,
        target: &mut BucketTarget,
        names: FieldNames,
    ) -> Result<(), Error> {
        let field = |f: &str| relay_core::decode::field_path(names.at, f);
        if let Some(arn) = target.role_arn() {
            self.check_foreign_role(arn)
                .map_err(|why| Error::invalid(field("roleArn"), why))?;
        }
        if let Some(url) = &target.endpoint_url {
            self.policy
                .validate(url)
                .await
                .map_err(|e| Error::invalid(field(names.endpoint_url), e.to_string()))?;
        }
        let Some(name) = target.credentials_path().map(str::to_string) else {
            return Ok(());
        };
        let cred = store.get_credential(org_id, &name).await?.ok_or_else(|| {
            Error::invalid(
                field(names.credentials_path),
                format!("there is no stored credential named {name:?} (POST /orgs/{{orgId}}/audit-export/credentials)"),
            )
        })?;
        if cred.kind.store() != target.store {
            return Err(Error::invalid(
                field(names.credentials_path),
                format!(
                    "credential {name:?} is of type {}, which cannot sign for type {}",
                    cred.kind.as_str(),
                    target.store.as_str()
                ),
            ));
        }
        let account = cred
            .masked
            .get("accountName")
            .and_then(serde_json::Value::as_str);
        match (&target.account_name, account) {
            (Some(given), Some(account)) if given != account => Err(Error::invalid(
                field(names.account_name),
                format!("is {given:?}, but credential {name:?} is for account {account:?}"),
            )),
            (None, Some(account)) => {
                target.account_name = Some(account.to_string());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A writer on `target` for `org_id`.
    pub async fn open(
        &self,
        store: &Store,
        org_id: &OrgId,
        target: &BucketTarget,
        limits: Limits,
    ) -> Result<BucketWriter, WriteFailure> {
        let role_failure = |e: RoleError| WriteFailure {
            kind: match e {
                RoleError::Unavailable(_) => FailureKind::Other,
                _ => FailureKind::AccessDenied,
            },
            code: None,
            message: e.to_string(),
        };
        let storage = |e: relay_store::error::StoreError| WriteFailure {
            kind: FailureKind::Other,
            code: None,
            message: format!("storage: {e}"),
        };
        let creds = match &target.access {
            Access::Role(role_arn) => {
                let external_id = store.external_id(org_id).await.map_err(storage)?;
                Some(
                    customer_credentials(
                        &self.clients,
                        self.access_role_arn.as_deref(),
                        role_arn,
                        &external_id,
                        org_id,
                    )
                    .await
                    .map_err(role_failure)?,
                )
            }
            Access::BucketPolicy => {
                stack_credentials(&self.clients, self.access_role_arn.as_deref(), org_id)
                    .await
                    .map_err(role_failure)?
            }
            Access::Credentials(name) => {
                let secret = crate::credentials::open(store, &self.sealer, org_id, name)
                    .await
                    .map_err(|e| WriteFailure {
                        kind: FailureKind::Other,
                        code: None,
                        message: format!("could not open the stored credential {name:?}: {e}"),
                    })?
                    .ok_or_else(|| WriteFailure {
                        kind: FailureKind::Credentials,
                        code: None,
                        message: format!(
                            "there is no stored credential named {name:?}: create it with POST /orgs/{{orgId}}/audit-export/credentials"
                        ),
                    })?;
                return BucketWriter::objects(
                    target.clone(),
                    Signing::Stored(&secret),
                    &self.http,
                    limits,
                );
            }
        };
        if target.store == StoreType::S3 && target.endpoint_url.is_none() {
            return Ok(BucketWriter::aws(
                target.clone(),
                s3_client(&self.clients, creds, &target.region),
            ));
        }
        // An IAM principal at a custom endpoint (a VPC or FIPS endpoint): the guarded client.
        let signing = match creds {
            Some(c) => Signing::Aws {
                access_key_id: c.access_key_id().to_string(),
                secret_access_key: c.secret_access_key().to_string(),
                session_token: c.session_token().map(str::to_string),
            },
            None => {
                use aws_credential_types::provider::ProvideCredentials;
                let provider =
                    self.clients
                        .sdk
                        .credentials_provider()
                        .ok_or_else(|| WriteFailure {
                            kind: FailureKind::Credentials,
                            code: None,
                            message: "the function has no AWS credentials".into(),
                        })?;
                let c = provider
                    .provide_credentials()
                    .await
                    .map_err(|e| WriteFailure {
                        kind: FailureKind::Credentials,
                        code: None,
                        message: format!("the function's AWS credentials are unavailable: {e}"),
                    })?;
                Signing::Aws {
                    access_key_id: c.access_key_id().to_string(),
                    secret_access_key: c.secret_access_key().to_string(),
                    session_token: c.session_token().map(str::to_string),
                }
            }
        };
        BucketWriter::objects(target.clone(), signing, &self.http, limits)
    }

    /// Runs the dry run against `target`. With bucket-policy access the file stays (the grant
    /// is put-only) and, when `token` is given, holds the ownership token.
    pub async fn test_connection(
        &self,
        store: &Store,
        org_id: &OrgId,
        target: &BucketTarget,
        token: Option<&str>,
        now: OffsetDateTime,
    ) -> TestResult {
        if let Some(url) = &target.endpoint_url {
            if let Err(e) = self.policy.validate(url).await {
                return TestResult::failed(format!("endpointUrl is not allowed: {e}"));
            }
        }
        let writer = match self.open(store, org_id, target, Limits::Test).await {
            Ok(w) => w,
            Err(e) => return TestResult::failed(e.message),
        };
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        if target.access == Access::BucketPolicy {
            let key = format!("{}/auditrelay-verify-test-{millis}", target.prefix);
            let body = match token {
                Some(t) => format!("{t}\n"),
                None => format!("AuditRelay connection test for {org_id} at {now}. Save the configuration and test it again for the ownership token.\n"),
            };
            return match writer.put(&key, body.into_bytes(), "text/plain").await {
                Ok(()) => TestResult {
                    success: true,
                    error: None,
                    verification_object: token.map(|_| key),
                },
                Err(e) => TestResult::failed(e.message),
            };
        }
        let key = format!("{}/.verify/auditrelay-verify-test-{millis}", target.prefix);
        let body = format!(
            "AuditRelay connection test for {org_id} at {now}. Safe to delete; AuditRelay deletes it itself when it can.\n"
        );
        if let Err(e) = writer.put(&key, body.into_bytes(), "text/plain").await {
            return TestResult::failed(e.message);
        }
        if let Err(e) = writer.delete(&key).await {
            // The role's generated policy grants the delete, so its absence is a setup error;
            // stores signed with stored credentials are often granted create-only (a GCS
            // objectCreator, an Azure SAS without d), which is enough to export.
            if target.role_arn().is_some() {
                return TestResult::failed(e.message);
            }
            tracing::info!(org_id = %org_id, key, error = %e, "connection test file left in place");
        }
        TestResult {
            success: true,
            error: None,
            verification_object: None,
        }
    }
}

/// The hash an ownership token is kept as.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.trim().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn customer_roles_in_the_services_own_account_are_refused() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let clients = Clients::new(&sdk);
        let buckets = Buckets::new(
            clients.clone(),
            Some("arn:aws:iam::111122223333:role/stack-customer-access".into()),
            SsrfPolicy::new(false),
            Sealer::new(clients.kms.clone(), None),
        );
        assert!(buckets
            .check_foreign_role("arn:aws:iam::111122223333:role/Admin")
            .unwrap_err()
            .contains("111122223333"));
        assert!(buckets
            .check_foreign_role("arn:aws:iam::444455556666:role/AuditRelayExport")
            .is_ok());
        let open = Buckets::new(
            clients.clone(),
            None,
            SsrfPolicy::new(false),
            Sealer::new(clients.kms.clone(), None),
        );
        assert!(open
            .check_foreign_role("arn:aws:iam::111122223333:role/Admin")
            .is_ok());
    }

    #[test]
    fn token_hashes_ignore_surrounding_whitespace() {
        assert_eq!(token_hash("abc\n"), token_hash("abc"));
        assert_eq!(token_hash("abc").len(), 64);
    }
}
