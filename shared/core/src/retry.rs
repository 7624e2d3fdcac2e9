//! The retry schedule (the audit-export documentation: "retried up to 3 times with exponential
//! backoff (30s, 5m, 30m)"), with ±10% jitter so that a receiver that was down for everyone is
//! not hit by every retry in the same second, and `Retry-After` handling.
//!
//! A delay becomes the message's SQS visibility timeout, so it is whole seconds and at most
//! SQS's 12 hours.

use std::time::{Duration, SystemTime};

/// SQS's largest visibility timeout.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);

/// Environment variable overriding the schedule, e.g. `30,300,1800` (seconds; local runs).
pub const SCHEDULE_ENV: &str = "AUDITRELAY_WEBHOOK_RETRY_DELAYS";

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    /// No delays.
    #[error("the retry schedule needs at least one delay")]
    Empty,
    /// A delay longer than SQS allows.
    #[error("retry delay {0} s is longer than SQS's 12-hour visibility limit")]
    TooLong(u64),
    /// Jitter outside 0..1.
    #[error("jitter must be between 0 and 1")]
    Jitter,
    /// Unparseable text.
    #[error("{SCHEDULE_ENV}: expected comma-separated seconds such as 30,300,1800, got {0:?}")]
    Syntax(String),
}

/// When to retry a failed delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::seed()
    }
}

impl RetrySchedule {
    /// The documented schedule: retries after 30 s, 5 min and 30 min, each ±10%.
    pub fn seed() -> Self {
        RetrySchedule {
            delays: vec![
                Duration::from_secs(30),
                Duration::from_secs(300),
                Duration::from_secs(1800),
            ],
            jitter: 0.1,
        }
    }

    /// A custom schedule (tests use short or zero delays).
    pub fn new(delays: Vec<Duration>, jitter: f64) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if let Some(d) = delays.iter().find(|d| **d > MAX_DELAY) {
            return Err(ScheduleError::TooLong(d.as_secs()));
        }
        if !(0.0..1.0).contains(&jitter) {
            return Err(ScheduleError::Jitter);
        }
        Ok(RetrySchedule { delays, jitter })
    }

    /// Parses `30,300,1800` (seconds).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let delays = text
            .split(',')
            .map(|p| p.trim().parse::<u64>().map(Duration::from_secs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ScheduleError::Syntax(text.to_string()))?;
        Self::new(delays, 0.1)
    }

    /// The delays, without jitter.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Attempts in all: the first one and one per delay. The deliveries queue's
    /// `maxReceiveCount` must equal this, so the message reaches the DLQ right after the last.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len() + 1).unwrap_or(u32::MAX)
    }

    /// The delay before the attempt after attempt `attempt` (1-based) failed, or `None` when
    /// that was the last one. `retry_after` (from a 429 or 503) is honoured within the
    /// schedule's next two steps: never sooner than the next step, never later than the one
    /// after it. `unit` is a uniform random number in `[0, 1)` for the jitter.
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let i = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let next = *self.delays.get(i)?;
        if let Some(asked) = retry_after {
            let ceiling = self.delays.get(i + 1).copied().unwrap_or(next).max(next);
            return Some(whole_seconds(asked.clamp(next, ceiling)));
        }
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Some(whole_seconds(next.mul_f64(factor)).min(MAX_DELAY))
    }
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

/// A uniform random number in `[0, 1)`. Jitter needs spread, not secrecy: the standard
/// library's randomly keyed hasher (seeded from the OS once per process, fresh keys per call)
/// provides it without a fallible RNG call.
pub fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let n = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        >> 11;
    n as f64 / (1u64 << 53) as f64
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn seed_schedule_is_30s_5m_30m_then_exhausted() {
        let s = RetrySchedule::seed();
        assert_eq!(s.max_attempts(), 4);
        assert_eq!(s.next_delay(1, None, 0.5), Some(S(30)));
        assert_eq!(s.next_delay(2, None, 0.5), Some(S(300)));
        assert_eq!(s.next_delay(3, None, 0.5), Some(S(1800)));
        assert_eq!(s.next_delay(4, None, 0.5), None);
        assert_eq!(s.next_delay(9, None, 0.5), None);
        assert_eq!(s.next_delay(0, None, 0.5), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = RetrySchedule::seed();
        assert_eq!(s.next_delay(1, None, 0.0), Some(S(27)));
        assert_eq!(s.next_delay(1, None, 0.999_999), Some(S(33)));
        assert_eq!(s.next_delay(3, None, 0.0), Some(S(1620)));
        assert_eq!(s.next_delay(3, None, 0.999_999), Some(S(1980)));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let d = s.next_delay(2, None, random_unit()).unwrap();
            assert!((S(270)..=S(330)).contains(&d), "{d:?}");
            seen.insert(d);
        }
        assert!(seen.len() > 10, "jitter spreads retries: {seen:?}");
    }

    #[test]
    fn retry_after_is_clamped_to_the_next_two_steps() {
        let s = RetrySchedule::seed();
        // After attempt 1 the next two steps are 30 s and 5 min.
        assert_eq!(s.next_delay(1, Some(S(120)), 0.0), Some(S(120)));
        assert_eq!(s.next_delay(1, Some(S(1)), 0.0), Some(S(30)));
        assert_eq!(s.next_delay(1, Some(S(86_400)), 0.0), Some(S(300)));
        // After attempt 2: 5 min and 30 min.
        assert_eq!(s.next_delay(2, Some(S(600)), 0.0), Some(S(600)));
        assert_eq!(s.next_delay(2, Some(S(7200)), 0.0), Some(S(1800)));
        // After attempt 3 only 30 min is left.
        assert_eq!(s.next_delay(3, Some(S(60)), 0.0), Some(S(1800)));
        assert_eq!(s.next_delay(3, Some(S(7200)), 0.0), Some(S(1800)));
        // Retry-After does not extend the number of attempts.
        assert_eq!(s.next_delay(4, Some(S(60)), 0.0), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Fri, 22 May 2026 10:30:00 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(S(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(S(0)));
        assert_eq!(
            parse_retry_after("Fri, 22 May 2026 10:32:00 GMT", now),
            Some(S(120))
        );
        assert_eq!(
            parse_retry_after("Fri, 22 May 2026 10:00:00 GMT", now),
            Some(S(0))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn custom_schedules_are_validated() {
        assert_eq!(
            RetrySchedule::new(vec![], 0.1).unwrap_err(),
            ScheduleError::Empty
        );
        assert_eq!(
            RetrySchedule::new(vec![S(50_000)], 0.1).unwrap_err(),
            ScheduleError::TooLong(50_000)
        );
        assert_eq!(
            RetrySchedule::new(vec![S(1)], 1.5).unwrap_err(),
            ScheduleError::Jitter
        );
        let s = RetrySchedule::parse("1, 2,3").unwrap();
        assert_eq!(s.delays(), &[S(1), S(2), S(3)]);
        assert!(RetrySchedule::parse("1,x").is_err());
        let zero = RetrySchedule::new(vec![S(0), S(0)], 0.0).unwrap();
        assert_eq!(zero.next_delay(1, None, 0.7), Some(S(0)));
        assert_eq!(zero.max_attempts(), 3);
    }
}
