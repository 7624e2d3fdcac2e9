//! Stored upload credentials (`/orgs/{orgId}/audit-export/credentials`): for stores without
//! IAM, the keys the service signs with. Secret values are written once and never shown
//! again: the API answers with the last four characters of each, and the store keeps them
//! only encrypted (see the app's credentials service).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::bucket::{validate_account_name, validate_credential_name, StoreType};

/// The kinds of stored credentials.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An S3 access key pair (S3-compatible stores).
    S3AccessKey,
    /// A Google service account's key file.
    GcsServiceAccount,
    /// An Azure storage account's shared key.
    AzureSharedKey,
    /// An Azure shared access signature.
    AzureSas,
}

impl CredentialKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::S3AccessKey => "s3_access_key",
            CredentialKind::GcsServiceAccount => "gcs_service_account",
            CredentialKind::AzureSharedKey => "azure_shared_key",
            CredentialKind::AzureSas => "azure_sas",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "s3_access_key" => Some(CredentialKind::S3AccessKey),
            "gcs_service_account" => Some(CredentialKind::GcsServiceAccount),
            "azure_shared_key" => Some(CredentialKind::AzureSharedKey),
            "azure_sas" => Some(CredentialKind::AzureSas),
            _ => None,
        }
    }

    /// The store these credentials sign for.
    pub fn store(self) -> StoreType {
        match self {
            CredentialKind::S3AccessKey => StoreType::S3,
            CredentialKind::GcsServiceAccount => StoreType::Gcs,
            CredentialKind::AzureSharedKey | CredentialKind::AzureSas => StoreType::AzureBlob,
        }
    }
}

/// The secret part of a credential: what is encrypted, and decrypted only to sign.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Secret {
    /// An S3 access key pair.
    S3AccessKey {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
    },
    /// A service account's key file (JSON), as Google issues it.
    GcsServiceAccount {
        /// The key file.
        service_account_json: Map<String, Value>,
    },
    /// A storage account key.
    AzureSharedKey {
        /// The storage account.
        account_name: String,
        /// Its key (base64).
        account_key: String,
    },
    /// A shared access signature.
    AzureSas {
        /// The storage account.
        account_name: String,
        /// The SAS query string (without the leading `?`).
        sas_token: String,
    },
}

// Secrets never reach a log through `{:?}`.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.kind().as_str())
    }
}

impl Secret {
    /// The kind.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Secret::S3AccessKey { .. } => CredentialKind::S3AccessKey,
            Secret::GcsServiceAccount { .. } => CredentialKind::GcsServiceAccount,
            Secret::AzureSharedKey { .. } => CredentialKind::AzureSharedKey,
            Secret::AzureSas { .. } => CredentialKind::AzureSas,
        }
    }

    /// The Azure storage account the credential belongs to.
    pub fn account_name(&self) -> Option<&str> {
        match self {
            Secret::AzureSharedKey { account_name, .. } | Secret::AzureSas { account_name, .. } => {
                Some(account_name)
            }
            _ => None,
        }
    }

    /// Every secret value, so that error texts can be scrubbed of them.
    pub fn secret_values(&self) -> Vec<&str> {
        match self {
            Secret::S3AccessKey {
                access_key_id,
                secret_access_key,
            } => vec![access_key_id, secret_access_key],
            Secret::GcsServiceAccount {
                service_account_json,
            } => ["private_key", "private_key_id"]
                .iter()
                .filter_map(|k| service_account_json.get(*k).and_then(Value::as_str))
                .collect(),
            Secret::AzureSharedKey { account_key, .. } => vec![account_key],
            Secret::AzureSas { sas_token, .. } => vec![sas_token],
        }
    }

    /// The fields the API shows: names and account names in clear, every secret value
    /// masked to its last four characters.
    pub fn masked(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            Secret::S3AccessKey {
                access_key_id,
                secret_access_key,
            } => {
                m.insert("accessKeyId".into(), mask(access_key_id).into());
                m.insert("secretAccessKey".into(), mask(secret_access_key).into());
            }
            Secret::GcsServiceAccount {
                service_account_json,
            } => {
                let mut shown = Map::new();
                for (k, v) in service_account_json {
                    let v = match (k.as_str(), v.as_str()) {
                        ("private_key" | "private_key_id", Some(s)) => Value::from(mask(s)),
                        (_, Some(_)) => v.clone(),
                        _ => continue,
                    };
                    shown.insert(k.clone(), v);
                }
                m.insert("serviceAccountJson".into(), Value::Object(shown));
            }
            Secret::AzureSharedKey {
                account_name,
                account_key,
            } => {
                m.insert("accountName".into(), account_name.clone().into());
                m.insert("accountKey".into(), mask(account_key).into());
            }
            Secret::AzureSas {
                account_name,
                sas_token,
            } => {
                m.insert("accountName".into(), account_name.clone().into());
                m.insert("sasToken".into(), mask(sas_token).into());
            }
        }
        m
    }
}

/// `****` and the last four characters (just `****` for values of eight or fewer, which
/// would give away too much).
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.trim_end().chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// A validated `POST .../audit-export/credentials` body.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialInput {
    /// The name destinations refer to.
    pub name: String,
    /// The secret.
    pub secret: Secret,
}

fn string_field(body: &Map<String, Value>, name: &str, max: usize) -> Result<String, Error> {
    match body.get(name) {
        None | Some(Value::Null) => Err(Error::invalid(name, "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(Error::invalid(name, "must not be empty"))
        }
        Some(Value::String(s)) if s.len() > max => Err(Error::invalid(
            name,
            format!("must be at most {max} characters"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::invalid(name, "must be a string")),
    }
}

impl CredentialInput {
    /// Validates a request body, naming the first bad field.
    pub fn parse(body: Value) -> Result<Self, Error> {
        let Value::Object(body) = body else {
            return Err(Error::invalid("body", "must be a JSON object"));
        };
        let name = string_field(&body, "name", 64)?;
        validate_credential_name(&name).map_err(|m| Error::invalid("name", m))?;
        let kind_name = string_field(&body, "type", 64)?;
        let kind = CredentialKind::parse(&kind_name).ok_or_else(|| {
            Error::invalid(
                "type",
                "must be s3_access_key, gcs_service_account, azure_shared_key or azure_sas",
            )
        })?;
        let allowed: &[&str] = match kind {
            CredentialKind::S3AccessKey => &["accessKeyId", "secretAccessKey"],
            CredentialKind::GcsServiceAccount => &["serviceAccountJson"],
            CredentialKind::AzureSharedKey => &["accountName", "accountKey"],
            CredentialKind::AzureSas => &["accountName", "sasToken"],
        };
        if let Some(extra) = body
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "type") && !allowed.contains(&k.as_str()))
        {
            return Err(Error::invalid(
                extra.as_str(),
                format!(
                    "is not a field of a {} credential ({})",
                    kind.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
        let account = |body: &Map<String, Value>| -> Result<String, Error> {
            let a = string_field(body, "accountName", 24)?;
            validate_account_name(&a).map_err(|m| Error::invalid("accountName", m))?;
            Ok(a)
        };
        let secret = match kind {
            CredentialKind::S3AccessKey => {
                let access_key_id = string_field(&body, "accessKeyId", 128)?;
                if access_key_id.chars().any(char::is_whitespace) {
                    return Err(Error::invalid("accessKeyId", "must not contain spaces"));
                }
                Secret::S3AccessKey {
                    access_key_id,
                    secret_access_key: string_field(&body, "secretAccessKey", 256)?,
                }
            }
            CredentialKind::GcsServiceAccount => Secret::GcsServiceAccount {
                service_account_json: service_account(body.get("serviceAccountJson"))?,
            },
            CredentialKind::AzureSharedKey => {
                let account_name = account(&body)?;
                let account_key = string_field(&body, "accountKey", 256)?;
                if !is_base64(&account_key) {
                    return Err(Error::invalid(
                        "accountKey",
                        "must be the storage account key as the portal shows it (base64)",
                    ));
                }
                Secret::AzureSharedKey {
                    account_name,
                    account_key,
                }
            }
            CredentialKind::AzureSas => {
                let account_name = account(&body)?;
                let sas = string_field(&body, "sasToken", 2048)?;
                let sas = sas.trim_start_matches('?').to_string();
                if !sas.split('&').any(|p| p.starts_with("sig=")) {
                    return Err(Error::invalid(
                        "sasToken",
                        "must be a shared access signature query string (sv=...&sig=...)",
                    ));
                }
                Secret::AzureSas {
                    account_name,
                    sas_token: sas,
                }
            }
        };
        Ok(CredentialInput { name, secret })
    }
}

fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
}

/// A service account key file: an object with the fields signing needs.
fn service_account(v: Option<&Value>) -> Result<Map<String, Value>, Error> {
    let field = "serviceAccountJson";
    let obj = match v {
        None | Some(Value::Null) => return Err(Error::invalid(field, "is required")),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(Error::invalid(
                field,
                "must be the key file as a JSON object (not a string)",
            ))
        }
    };
    if obj.get("type").and_then(Value::as_str) != Some("service_account") {
        return Err(Error::invalid(
            format!("{field}.type"),
            "must be service_account (a key file created for a service account)",
        ));
    }
    for k in ["client_email", "private_key_id", "private_key"] {
        match obj.get(k).and_then(Value::as_str) {
            Some(s) if !s.is_empty() => {}
            _ => return Err(Error::invalid(format!("{field}.{k}"), "is required")),
        }
    }
    if !obj
        .get("private_key")
        .and_then(Value::as_str)
        .is_some_and(|k| k.contains("-----BEGIN PRIVATE KEY-----"))
    {
        return Err(Error::invalid(
            format!("{field}.private_key"),
            "must be a PEM-encoded PKCS#8 private key, as in the downloaded key file",
        ));
    }
    if serde_json::to_string(&obj)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
        > 3500
    {
        return Err(Error::invalid(
            field,
            "is larger than a service account key file",
        ));
    }
    Ok(obj)
}

/// A stored credential, as the API shows it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    /// Name.
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: CredentialKind,
    /// Created.
    pub created_at: String,
    /// Last replaced.
    pub updated_at: String,
    /// The masked fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(body: Value) -> String {
        match CredentialInput::parse(body) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY-----\n";

    #[test]
    fn each_type_parses_and_masks() {
        let s3 = CredentialInput::parse(json!({"name": "minio-prod", "type": "s3_access_key", "accessKeyId": "AKIAEXAMPLE1234", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})).unwrap();
        assert_eq!(s3.name, "minio-prod");
        let m = s3.secret.masked();
        assert_eq!(m["accessKeyId"], "****1234");
        assert_eq!(m["secretAccessKey"], "****EKEY");
        let gcs = CredentialInput::parse(json!({"name": "g", "type": "gcs_service_account", "serviceAccountJson": {"type": "service_account", "client_email": "x@p.iam.gserviceaccount.com", "private_key_id": "0123456789abcdef", "private_key": PEM, "project_id": "p"}})).unwrap();
        let m = gcs.secret.masked();
        assert_eq!(
            m["serviceAccountJson"]["client_email"],
            "x@p.iam.gserviceaccount.com"
        );
        assert_eq!(m["serviceAccountJson"]["private_key_id"], "****cdef");
        assert!(!m.to_string_lossy().contains("MIIE"));
        let az = CredentialInput::parse(json!({"name": "az", "type": "azure_shared_key", "accountName": "acme1", "accountKey": "Zm9vYmFyYmF6cXV4"})).unwrap();
        assert_eq!(az.secret.masked()["accountKey"], "****cXV4");
        assert_eq!(az.secret.account_name(), Some("acme1"));
        let sas = CredentialInput::parse(json!({"name": "sas", "type": "azure_sas", "accountName": "acme1", "sasToken": "?sv=2022-11-02&sp=cw&sig=abcdEFGH1234"})).unwrap();
        assert!(
            matches!(&sas.secret, Secret::AzureSas { sas_token, .. } if sas_token.starts_with("sv="))
        );
        assert_eq!(format!("{:?}", sas.secret), "Secret(azure_sas)");
    }

    trait Lossy {
        fn to_string_lossy(&self) -> String;
    }
    impl Lossy for Map<String, Value> {
        fn to_string_lossy(&self) -> String {
            Value::Object(self.clone()).to_string()
        }
    }

    #[test]
    fn bad_bodies_name_the_field() {
        for (body, f) in [
            (json!([]), "body"),
            (json!({"type": "s3_access_key"}), "name"),
            (json!({"name": "a b", "type": "s3_access_key"}), "name"),
            (json!({"name": "a", "type": "ftp"}), "type"),
            (
                json!({"name": "a", "type": "s3_access_key", "accessKeyId": "A"}),
                "secretAccessKey",
            ),
            (
                json!({"name": "a", "type": "s3_access_key", "accessKeyId": "A", "secretAccessKey": "s", "roleArn": "x"}),
                "roleArn",
            ),
            (
                json!({"name": "a", "type": "gcs_service_account", "serviceAccountJson": "{}"}),
                "serviceAccountJson",
            ),
            (
                json!({"name": "a", "type": "gcs_service_account", "serviceAccountJson": {"type": "service_account"}}),
                "serviceAccountJson.client_email",
            ),
            (
                json!({"name": "a", "type": "azure_shared_key", "accountName": "A!", "accountKey": "Zm9v"}),
                "accountName",
            ),
            (
                json!({"name": "a", "type": "azure_shared_key", "accountName": "acme", "accountKey": "not base64!"}),
                "accountKey",
            ),
            (
                json!({"name": "a", "type": "azure_sas", "accountName": "acme", "sasToken": "sv=1"}),
                "sasToken",
            ),
        ] {
            assert_eq!(field(body.clone()), f, "{body}");
        }
    }

    #[test]
    fn short_values_are_fully_masked() {
        assert_eq!(mask("abc"), "****");
        assert_eq!(mask("abcdefghij"), "****ghij");
    }
}
