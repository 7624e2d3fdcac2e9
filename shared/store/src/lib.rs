//! DynamoDB persistence. One `Store` per cold start; every method is scoped to one org. Secrets
//! are sealed and opened here, at the one boundary ([`sealing`]): callers see them in clear.

pub mod actions;
mod bucket;
pub mod class_overrides;
pub mod credentials;
pub mod error;
pub mod events;
pub mod export_jobs;
pub mod integrity;
pub mod lanes;
pub mod limits;
pub mod markers;
pub mod notifications;
pub mod orgs;
pub mod otlp;
pub mod s3_stream;
pub mod schema;
pub mod sealing;
pub mod stream_position;
pub mod summary;
pub mod webhooks;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::StoreError;
use relay_core::config::Config;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Handle on the service's tables.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) ddb: aws_sdk_dynamodb::Client,
    pub(crate) events_table: String,
    pub(crate) config_table: String,
    /// Actions this process knows are in their org's action set (see [`actions`]).
    pub(crate) seen_actions: actions::SeenActions,
    /// Rate-limit defaults and what this process remembers of limits (see [`limits`]).
    pub(crate) limits: limits::LimitState,
    /// Seals and opens the secrets of webhook endpoints and OTLP exports (see [`sealing`]).
    pub(crate) sealer: Option<sealing::Sealer>,
}

impl Store {
    /// A store over the tables named in `config`.
    pub fn new(ddb: aws_sdk_dynamodb::Client, config: &Config) -> Self {
        Store {
            ddb,
            events_table: config.events_table.clone(),
            config_table: config.config_table.clone(),
            seen_actions: actions::SeenActions::default(),
            limits: limits::LimitState::new(config.rate_limits),
            sealer: None,
        }
    }

    /// The underlying client (for provisioning and tests).
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.ddb
    }
}

/// Whether a write was refused because its condition expression did not hold (the expected
/// outcome of a lost race or a guard, not an error).
pub(crate) fn is_condition_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    e.code() == Some("ConditionalCheckFailedException")
}

/// The outcome of a conditional write: `Ok(None)` when its condition did not hold (a lost race
/// or a guard), the output when it was applied, an error otherwise.
pub(crate) fn conditional<T, E, R>(
    res: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match res {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_condition_failure(&e) => Ok(None),
        Err(e) => Err(StoreError::from_sdk(e)),
    }
}

/// `S` attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// `N` attribute.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A required string attribute of a stored item.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "attribute {name} missing or not a string"
        ))),
    }
}

/// An optional string attribute.
pub(crate) fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// A required number attribute.
pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a number"))),
        _ => Err(StoreError::Corrupt(format!(
            "attribute {name} missing or not a number"
        ))),
    }
}
