//! AWS clients, built once per cold start from the environment (`AWS_ENDPOINT_URL` points
//! them at moto locally).

/// Loads the shared AWS configuration (region, credentials, endpoint) from the environment.
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A DynamoDB client.
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}
