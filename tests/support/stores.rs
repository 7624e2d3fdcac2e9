//! The object stores beyond AWS, as `scripts/with-moto.sh` runs them: an S3-compatible store (a
//! second moto standing in for MinIO, reached only by its URL and an access key), Azurite (Azure
//! Blob) and a GCS emulator (`emulators/gcs.py`). Tests make buckets and read objects back with
//! each store's own client (`read_store.py`: boto3, azure-storage-blob, google-cloud-storage),
//! never with object_store, which the destinations use and the tests check.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// One of the non-AWS stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Any S3-compatible store: path-style addressing, an access key, a region.
    S3Compat,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
}

/// The S3-compatible store's access key id (moto takes any).
pub const S3COMPAT_ACCESS_KEY_ID: &str = "minio-test-access-key";
/// The S3-compatible store's secret access key (moto takes any).
pub const S3COMPAT_SECRET_ACCESS_KEY: &str = "minio-test-secret-key";
/// The region the S3-compatible store's requests are signed for.
pub const S3COMPAT_REGION: &str = "us-east-1";
/// Azurite's well-known storage account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known account key (base64).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The GCS project the emulator's buckets are made in (it checks none).
pub const GCS_PROJECT: &str = "auditrelay-test";

impl StoreKind {
    /// Every kind, for tests that run once per store.
    pub const ALL: [StoreKind; 3] = [StoreKind::S3Compat, StoreKind::Gcs, StoreKind::Azure];

    /// The variable `scripts/with-moto.sh` puts the endpoint in.
    pub fn env_var(self) -> &'static str {
        match self {
            StoreKind::S3Compat => "AUDITRELAY_TEST_S3COMPAT_URL",
            StoreKind::Gcs => "AUDITRELAY_TEST_GCS_URL",
            StoreKind::Azure => "AUDITRELAY_TEST_AZURITE_URL",
        }
    }

    /// The endpoint: `http://127.0.0.1:P` for S3Compat and Gcs (the base of `/{bucket}/{key}`),
    /// `http://127.0.0.1:P/devstoreaccount1` (the account's blob endpoint) for Azure.
    pub fn endpoint(self) -> String {
        std::env::var(self.env_var()).unwrap_or_else(|_| {
            panic!(
                "{} is unset: run `make test`, or `scripts/with-moto.sh cargo test`",
                self.env_var()
            )
        })
    }

    /// The name `read_store.py` knows the kind by.
    fn name(self) -> &'static str {
        match self {
            StoreKind::S3Compat => "s3compat",
            StoreKind::Gcs => "gcs",
            StoreKind::Azure => "azure",
        }
    }

    /// The endpoint and credentials, as `read_store.py` takes them.
    fn store_json(self) -> Value {
        let url = self.endpoint();
        match self {
            StoreKind::S3Compat => json!({
                "kind": self.name(), "url": url, "region": S3COMPAT_REGION,
                "access_key_id": S3COMPAT_ACCESS_KEY_ID,
                "secret_access_key": S3COMPAT_SECRET_ACCESS_KEY,
            }),
            StoreKind::Gcs => json!({"kind": self.name(), "url": url, "project": GCS_PROJECT}),
            StoreKind::Azure => json!({
                "kind": self.name(), "url": url, "account": AZURITE_ACCOUNT, "key": AZURITE_KEY,
            }),
        }
    }
}

/// A real RSA key (PKCS#8 PEM), as in a downloaded service-account key file, made once per
/// process. The client signs its own token with it (the emulator checks none).
pub fn gcs_private_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let script = "from cryptography.hazmat.primitives.asymmetric import rsa\n\
from cryptography.hazmat.primitives import serialization as s\n\
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
print(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode(), end='')";
        let out = Command::new(crate::python())
            .args(["-c", script])
            .output()
            .expect("python with cryptography");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("PEM")
    })
}

/// The body of `POST /orgs/{orgId}/audit-export/credentials` for the store's credential.
pub fn credential_body(kind: StoreKind, name: &str) -> Value {
    match kind {
        StoreKind::S3Compat => json!({"name": name, "type": "s3_access_key",
            "accessKeyId": S3COMPAT_ACCESS_KEY_ID, "secretAccessKey": S3COMPAT_SECRET_ACCESS_KEY}),
        StoreKind::Gcs => json!({"name": name, "type": "gcs_service_account",
            "serviceAccountJson": {"type": "service_account", "project_id": GCS_PROJECT,
                "client_email": "auditrelay@auditrelay-test.iam.gserviceaccount.com",
                "private_key_id": "9f2c4e6a8b1d3f5e", "private_key": gcs_private_key()}}),
        StoreKind::Azure => json!({"name": name, "type": "azure_shared_key",
            "accountName": AZURITE_ACCOUNT, "accountKey": AZURITE_KEY}),
    }
}

/// The continuous export's configuration (`POST .../audit-export/config`) for `bucket` on
/// the store, signed with the credential `name`.
pub fn config_body(kind: StoreKind, bucket: &str, name: &str) -> Value {
    let url = kind.endpoint();
    match kind {
        StoreKind::S3Compat => json!({"bucket": bucket, "region": S3COMPAT_REGION,
            "endpointUrl": url, "credentialsPath": name}),
        StoreKind::Gcs => json!({"type": "gcs", "bucket": bucket, "endpointUrl": url,
            "credentialsPath": name}),
        StoreKind::Azure => json!({"type": "azure_blob", "bucket": bucket, "endpointUrl": url,
            "credentialsPath": name}),
    }
}

/// An aws-sdk-s3 client on the S3-compatible store (path-style, its own access key).
pub async fn s3compat_client() -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{Credentials, Region};
    let conf = aws_sdk_s3::config::Builder::from(&crate::sdk().await)
        .endpoint_url(StoreKind::S3Compat.endpoint())
        .region(Region::new(S3COMPAT_REGION))
        .credentials_provider(Credentials::new(
            S3COMPAT_ACCESS_KEY_ID,
            S3COMPAT_SECRET_ACCESS_KEY,
            None,
            None,
            "s3compat",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Creates a bucket (an Azure container) with the store's own API. Use names valid everywhere:
/// 3 to 63 lowercase letters, digits and hyphens.
pub async fn create_bucket(kind: StoreKind, name: &str) {
    match kind {
        StoreKind::S3Compat => {
            s3compat_client()
                .await
                .create_bucket()
                .bucket(name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("create bucket {name} on the S3-compatible store: {e}"));
        }
        StoreKind::Gcs | StoreKind::Azure => {
            let args = vec![
                "create".to_string(),
                kind.store_json().to_string(),
                name.into(),
            ];
            tokio::task::spawn_blocking(move || read_store(&args))
                .await
                .unwrap();
        }
    }
}

/// Downloads every object under `prefix` into `dir`, each at its key's path below it, with the
/// store's own client; returns the keys, sorted.
pub fn download_all(kind: StoreKind, bucket: &str, prefix: &str, dir: &Path) -> Vec<String> {
    let args = vec![
        "download".to_string(),
        kind.store_json().to_string(),
        bucket.into(),
        prefix.into(),
        dir.display().to_string(),
    ];
    serde_json::from_str(&read_store(&args)).expect("read_store.py prints the keys as JSON")
}

/// Runs `read_store.py` with the tools venv's Python; returns its standard output.
fn read_store(args: &[String]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/read_store.py");
    let py = crate::python();
    let out = Command::new(&py)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{py}: {e}"));
    assert!(
        out.status.success(),
        "read_store.py {} {}: {}",
        args[0],
        args[2],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
