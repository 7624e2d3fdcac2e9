//! AWS clients, built once per cold start from the environment (`AWS_ENDPOINT_URL` points
//! them at moto locally).

use aws_smithy_http_client::tls;

/// Loads the shared AWS configuration (region, credentials, endpoint) from the environment,
/// with the one HTTPS client every SDK client and credentials provider uses: hyper 1 and rustls
/// on ring (the SDK's default features would build a second TLS stack; see Cargo.toml).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// A DynamoDB client.
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// Every service client the functions use, built once per cold start and cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The SDK configuration they were built from (for per-role S3 clients).
    pub sdk: aws_config::SdkConfig,
    /// DynamoDB.
    pub ddb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// STS.
    pub sts: aws_sdk_sts::Client,
    /// KMS (sealing stored credentials).
    pub kms: aws_sdk_kms::Client,
}

impl Clients {
    /// Clients for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Clients {
            sdk: sdk.clone(),
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
        }
    }

    /// Clients configured from the environment.
    pub async fn from_env() -> Self {
        Clients::new(&load_aws_config().await)
    }

    /// Whether a custom endpoint (moto, LocalStack) is configured: S3 then needs path-style
    /// addressing, and the endpoint itself is trusted even though it is on loopback.
    pub fn custom_endpoint(&self) -> Option<&str> {
        self.sdk.endpoint_url()
    }
}
