//! Runtime configuration, read once per cold start from the environment: every setting of
//! every function is read here and nowhere else, with one strictness. A variable that is set
//! but unusable fails the cold start with a message naming it; an unset one takes its default.

use std::time::Duration;

use crate::limits::{Budget, RateLimits};
use crate::retry::RetrySchedule;
use crate::signing::{SignatureHeaderName, SIGNATURE_HEADER_ENV};

/// Settings every function shares. Built by [`Config::from_env`] in `main`, or directly in tests.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table of events (`AUDITRELAY_EVENTS_TABLE`, default `auditrelay-events`).
    pub events_table: String,
    /// DynamoDB table of orgs, keys and configuration (`AUDITRELAY_CONFIG_TABLE`,
    /// default `auditrelay-config`).
    pub config_table: String,
    /// Whether outbound destinations may resolve to loopback or private addresses
    /// (`AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1`; for local runs and tests only).
    pub allow_private_destinations: bool,
    /// SNS topic operators subscribe to for notifications such as a paused destination
    /// (`AUDITRELAY_NOTIFY_TOPIC_ARN`; unset: notifications are only logged).
    pub notify_topic_arn: Option<String>,
    /// SQS queue of webhook and OTLP deliveries (`AUDITRELAY_DELIVERIES_QUEUE_URL`).
    pub deliveries_queue_url: Option<String>,
    /// SQS queue of the slow delivery lane: messages of destinations marked slow or failing,
    /// and of orgs over their concurrency cap (`AUDITRELAY_SLOW_DELIVERIES_QUEUE_URL`; unset:
    /// one lane).
    pub slow_deliveries_queue_url: Option<String>,
    /// SQS queue of early S3 flush requests (`AUDITRELAY_FLUSH_QUEUE_URL`).
    pub flush_queue_url: Option<String>,
    /// The stack's role that customers trust; assumed before a customer's role so that trust
    /// policies name one stable principal (`AUDITRELAY_ACCESS_ROLE_ARN`; unset locally).
    pub access_role_arn: Option<String>,
    /// SQS queue of export jobs (`AUDITRELAY_EXPORT_QUEUE_URL`).
    pub export_queue_url: Option<String>,
    /// KMS key that seals stored upload credentials (`AUDITRELAY_CREDENTIALS_KEY_ID`, a key
    /// id, ARN or alias; unset: credentials cannot be stored).
    pub credentials_key_id: Option<String>,
    /// Webhook and OTLP retry delays (`AUDITRELAY_WEBHOOK_RETRY_DELAYS`, seconds such as
    /// `30,300,1800`; default: the documented schedule).
    pub retry_schedule: RetrySchedule,
    /// Exhausted events in a row that pause a destination
    /// (`AUDITRELAY_WEBHOOK_PAUSE_AFTER_EXHAUSTED`, a positive whole number; unset: the default).
    pub pause_after_exhausted: Option<u32>,
    /// How old an event must be before the S3 flush exports it (`AUDITRELAY_FLUSH_SETTLE_SECS`,
    /// whole seconds; unset: the default).
    pub flush_settle: Option<Duration>,
    /// Name of the single HMAC signature header every webhook delivery (and test send)
    /// carries beside the Standard Webhooks headers (`AUDITRELAY_SIGNATURE_HEADER`, an HTTP
    /// header name; default `X-AuditRelay-Signature`).
    pub signature_header: SignatureHeaderName,
    /// Asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY) that signs integrity digests and export
    /// manifests (`AUDITRELAY_SIGNING_KEY_ID`, a key id, ARN or alias; unset: nothing is
    /// signed and no digest is written).
    pub signing_key_id: Option<String>,
    /// Length of a digest period (`AUDITRELAY_DIGEST_PERIOD_SECS`, whole seconds, at least
    /// 60; default an hour).
    pub digest_period: Duration,
    /// Request rate limits and the replay budget every org gets unless the operator overrides
    /// them for it (`AUDITRELAY_RATE_LIMIT_*`, `AUDITRELAY_REPLAY_MESSAGES_PER_HOUR`; see
    /// [`rate_limits`]).
    pub rate_limits: RateLimits,
}

/// A configuration value that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn var_or(name: &'static str, default: &str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Err(ConfigError {
            name,
            problem: "is set but empty".into(),
        }),
        Ok(v) => Ok(v),
        Err(_) => Ok(default.to_string()),
    }
}

fn parsed<T: std::str::FromStr>(
    name: &'static str,
    expected: &str,
    valid: impl Fn(&T) -> bool,
) -> Result<Option<T>, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().parse::<T>() {
            Ok(n) if valid(&n) => Ok(Some(n)),
            _ => Err(ConfigError {
                name,
                problem: format!("must be {expected}, got {v:?}"),
            }),
        },
    }
}

/// The signature header's name: unset takes the default; set (even empty) must be valid,
/// since receivers that look for the name the operator chose would reject every delivery.
fn signature_header() -> Result<SignatureHeaderName, ConfigError> {
    match std::env::var(SIGNATURE_HEADER_ENV) {
        Err(_) => Ok(SignatureHeaderName::default()),
        Ok(v) => SignatureHeaderName::parse(&v).map_err(|e| ConfigError {
            name: SIGNATURE_HEADER_ENV,
            problem: format!("{v:?} {e}"),
        }),
    }
}

fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn flag(name: &'static str) -> Result<bool, ConfigError> {
    match std::env::var(name).as_deref() {
        Err(_) | Ok("") | Ok("0") | Ok("false") => Ok(false),
        Ok("1") | Ok("true") => Ok(true),
        Ok(other) => Err(ConfigError {
            name,
            problem: format!("must be 1 or 0, got {other:?}"),
        }),
    }
}

fn positive(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    Ok(parsed(name, "a positive whole number", |n: &u64| *n > 0)?.unwrap_or(default))
}

/// The default rate limits: each unset variable keeps [`RateLimits::default`]'s value.
/// `AUDITRELAY_RATE_LIMIT_WINDOW_SECS` is the window length; `..._{INGEST,READ,OUTBOUND}_PER_
/// {KEY,ORG}` the requests per window; `AUDITRELAY_REPLAY_MESSAGES_PER_HOUR` the replay budget.
pub fn rate_limits() -> Result<RateLimits, ConfigError> {
    let d = RateLimits::default();
    let budget = |key: &'static str, org: &'static str, b: Budget| -> Result<Budget, ConfigError> {
        Ok(Budget {
            per_key: positive(key, b.per_key)?,
            per_org: positive(org, b.per_org)?,
        })
    };
    Ok(RateLimits {
        window: Duration::from_secs(positive(
            "AUDITRELAY_RATE_LIMIT_WINDOW_SECS",
            d.window.as_secs(),
        )?),
        ingest: budget(
            "AUDITRELAY_RATE_LIMIT_INGEST_PER_KEY",
            "AUDITRELAY_RATE_LIMIT_INGEST_PER_ORG",
            d.ingest,
        )?,
        read: budget(
            "AUDITRELAY_RATE_LIMIT_READ_PER_KEY",
            "AUDITRELAY_RATE_LIMIT_READ_PER_ORG",
            d.read,
        )?,
        outbound: budget(
            "AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_KEY",
            "AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_ORG",
            d.outbound,
        )?,
        replay_messages_per_hour: positive(
            "AUDITRELAY_REPLAY_MESSAGES_PER_HOUR",
            d.replay_messages_per_hour,
        )?,
    })
}

impl Config {
    /// Reads the configuration from the environment, failing fast with a clear message.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Config {
            events_table: var_or("AUDITRELAY_EVENTS_TABLE", "auditrelay-events")?,
            config_table: var_or("AUDITRELAY_CONFIG_TABLE", "auditrelay-config")?,
            allow_private_destinations: flag("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS")?,
            notify_topic_arn: optional("AUDITRELAY_NOTIFY_TOPIC_ARN"),
            deliveries_queue_url: optional("AUDITRELAY_DELIVERIES_QUEUE_URL"),
            slow_deliveries_queue_url: optional("AUDITRELAY_SLOW_DELIVERIES_QUEUE_URL"),
            flush_queue_url: optional("AUDITRELAY_FLUSH_QUEUE_URL"),
            access_role_arn: optional("AUDITRELAY_ACCESS_ROLE_ARN"),
            export_queue_url: optional("AUDITRELAY_EXPORT_QUEUE_URL"),
            credentials_key_id: optional("AUDITRELAY_CREDENTIALS_KEY_ID"),
            retry_schedule: match optional(crate::retry::SCHEDULE_ENV) {
                Some(text) => RetrySchedule::parse(&text).map_err(|e| ConfigError {
                    name: crate::retry::SCHEDULE_ENV,
                    problem: e.to_string(),
                })?,
                None => RetrySchedule::seed(),
            },
            pause_after_exhausted: parsed(
                "AUDITRELAY_WEBHOOK_PAUSE_AFTER_EXHAUSTED",
                "a positive whole number",
                |n: &u32| *n > 0,
            )?,
            flush_settle: parsed(
                "AUDITRELAY_FLUSH_SETTLE_SECS",
                "whole seconds",
                |_: &u64| true,
            )?
            .map(Duration::from_secs),
            signature_header: signature_header()?,
            signing_key_id: optional("AUDITRELAY_SIGNING_KEY_ID"),
            digest_period: Duration::from_secs(
                parsed(
                    "AUDITRELAY_DIGEST_PERIOD_SECS",
                    "whole seconds, at least 60",
                    |n: &u64| *n >= crate::integrity::MIN_PERIOD_SECS,
                )?
                .unwrap_or(crate::integrity::DEFAULT_PERIOD_SECS),
            ),
            rate_limits: rate_limits()?,
        })
    }

    /// A configuration whose resource names all start with `prefix` (tests use one per test).
    pub fn with_prefix(prefix: &str) -> Self {
        Config {
            events_table: format!("{prefix}-events"),
            config_table: format!("{prefix}-config"),
            allow_private_destinations: true,
            notify_topic_arn: None,
            deliveries_queue_url: None,
            slow_deliveries_queue_url: None,
            flush_queue_url: None,
            access_role_arn: None,
            export_queue_url: None,
            credentials_key_id: None,
            retry_schedule: RetrySchedule::seed(),
            pause_after_exhausted: None,
            flush_settle: None,
            signature_header: SignatureHeaderName::default(),
            signing_key_id: None,
            digest_period: Duration::from_secs(crate::integrity::DEFAULT_PERIOD_SECS),
            rate_limits: RateLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, because the environment is the process's: the cases run one after another.
    #[test]
    fn a_bad_value_names_its_variable_and_an_unset_one_takes_the_default() {
        let long_name = format!("X-{}", "a".repeat(63));
        let bad = [
            ("AUDITRELAY_FLUSH_SETTLE_SECS", "2m"),
            ("AUDITRELAY_WEBHOOK_PAUSE_AFTER_EXHAUSTED", "0"),
            ("AUDITRELAY_WEBHOOK_RETRY_DELAYS", "30,soon"),
            ("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS", "yes"),
            ("AUDITRELAY_EVENTS_TABLE", " "),
            ("AUDITRELAY_RATE_LIMIT_READ_PER_ORG", "0"),
            ("AUDITRELAY_REPLAY_MESSAGES_PER_HOUR", "lots"),
            ("AUDITRELAY_SIGNATURE_HEADER", ""),
            ("AUDITRELAY_SIGNATURE_HEADER", "X Optimaite Signature"),
            ("AUDITRELAY_SIGNATURE_HEADER", "X-Optimaite-Signature:"),
            ("AUDITRELAY_SIGNATURE_HEADER", "webhook-signature"),
            ("AUDITRELAY_SIGNATURE_HEADER", "Content-Type"),
            ("AUDITRELAY_SIGNATURE_HEADER", "Host"),
            ("AUDITRELAY_SIGNATURE_HEADER", "authorization"),
            ("AUDITRELAY_SIGNATURE_HEADER", long_name.as_str()),
        ];
        for (name, value) in bad {
            std::env::set_var(name, value);
            let err = Config::from_env().unwrap_err();
            assert_eq!(err.name, name, "{err}");
            assert!(err
                .to_string()
                .starts_with(&format!("environment variable {name}")));
            std::env::remove_var(name);
        }
        std::env::set_var("AUDITRELAY_SIGNATURE_HEADER", "Webhook-Signature");
        let err = Config::from_env().unwrap_err().to_string();
        std::env::remove_var("AUDITRELAY_SIGNATURE_HEADER");
        assert_eq!(
            err,
            "environment variable AUDITRELAY_SIGNATURE_HEADER: \"Webhook-Signature\" is a \
             Standard Webhooks, client-set or hop-by-hop header; choose another name"
        );
        let c = Config::from_env().unwrap();
        assert_eq!(c.flush_settle, None);
        assert_eq!(c.retry_schedule, RetrySchedule::seed());
        assert_eq!(c.signature_header.as_str(), "X-AuditRelay-Signature");
        std::env::set_var("AUDITRELAY_SIGNATURE_HEADER", "X-Optimaite-Signature");
        let c = Config::from_env().unwrap();
        std::env::remove_var("AUDITRELAY_SIGNATURE_HEADER");
        assert_eq!(c.signature_header.as_str(), "X-Optimaite-Signature");
        std::env::set_var("AUDITRELAY_FLUSH_SETTLE_SECS", "5");
        let c = Config::from_env().unwrap();
        std::env::remove_var("AUDITRELAY_FLUSH_SETTLE_SECS");
        assert_eq!(c.flush_settle, Some(Duration::from_secs(5)));
        assert_eq!(c.rate_limits, RateLimits::default());
        std::env::set_var("AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_KEY", "7");
        let c = Config::from_env().unwrap();
        std::env::remove_var("AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_KEY");
        assert_eq!(c.rate_limits.outbound.per_key, 7);
        assert_eq!(
            c.rate_limits.outbound.per_org,
            RateLimits::default().outbound.per_org
        );
    }
}
