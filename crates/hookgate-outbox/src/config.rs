//! [`OutboxConfig`]: the `[send_data]` table of `hookgate.toml`.

use crate::errors::StartError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How messages are queued and sent. Every field has a safe default, so an empty table (or
/// none) is valid; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Time one POST may take, from connecting until the response body has been read, in
    /// milliseconds. Default 2000.
    pub timeout_ms: u64,
    /// Attempts per message, the first one included. Default 3; 1 means no retry.
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds; it doubles on each further retry up to
    /// `backoff_max_ms`. Default 100.
    pub backoff_initial_ms: u64,
    /// Longest wait between two attempts, in milliseconds. Default 1000.
    pub backoff_max_ms: u64,
    /// Messages that may wait in the queue; when it is full, `enqueue` refuses. Default 10,000.
    pub queue_capacity: usize,
    /// Messages being sent at once (each holds its slot through its retries). Default 32.
    pub max_in_flight: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            timeout_ms: 2_000,
            max_attempts: 3,
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            queue_capacity: 10_000,
            max_in_flight: 32,
        }
    }
}

/// Upper bounds that keep a typo from becoming an outage (a queue that eats the memory, a
/// message retried for an hour).
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_ATTEMPTS: u32 = 10;
const MAX_BACKOFF_MS: u64 = 60_000;
const MAX_QUEUE: usize = 1_000_000;
const MAX_IN_FLIGHT: usize = 1_024;

/// [`OutboxConfig`] once checked, in the units the sender uses.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) max_in_flight: usize,
}

impl OutboxConfig {
    /// Checks every value against its range.
    pub(crate) fn validate(&self) -> Result<Settings, StartError> {
        let check = |field: &'static str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) { Ok(()) } else { Err(StartError::Config { field, value, min, max }) }
        };
        check("timeout_ms", self.timeout_ms, 1, MAX_TIMEOUT_MS)?;
        check("max_attempts", self.max_attempts.into(), 1, MAX_ATTEMPTS.into())?;
        check("backoff_max_ms", self.backoff_max_ms, 0, MAX_BACKOFF_MS)?;
        check("backoff_initial_ms", self.backoff_initial_ms, 0, self.backoff_max_ms)?;
        check("queue_capacity", self.queue_capacity as u64, 1, MAX_QUEUE as u64)?;
        check("max_in_flight", self.max_in_flight as u64, 1, MAX_IN_FLIGHT as u64)?;
        Ok(Settings {
            timeout: Duration::from_millis(self.timeout_ms),
            max_attempts: self.max_attempts,
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            queue_capacity: self.queue_capacity,
            max_in_flight: self.max_in_flight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = OutboxConfig::default().validate().expect("defaults are valid");
        assert_eq!(settings.timeout, Duration::from_secs(2));
        assert_eq!(settings.max_attempts, 3);
        assert_eq!(settings.queue_capacity, 10_000);
        assert_eq!(settings.max_in_flight, 32);
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let config = OutboxConfig { queue_capacity: 0, ..OutboxConfig::default() };
        let err = config.validate().expect_err("an empty queue is refused");
        assert_eq!(err.to_string(), "send_data.queue_capacity = 0 is out of range 1..=1000000");

        let config = OutboxConfig { backoff_initial_ms: 5_000, ..OutboxConfig::default() };
        let err = config.validate().expect_err("initial backoff above the maximum is refused");
        assert_eq!(err.to_string(), "send_data.backoff_initial_ms = 5000 is out of range 0..=1000");
    }

    #[test]
    fn a_send_data_table_fills_in_defaults_and_refuses_unknown_keys() {
        let config: OutboxConfig = toml::from_str("timeout_ms = 500\nmax_in_flight = 8\n").unwrap();
        assert_eq!(config, OutboxConfig { timeout_ms: 500, max_in_flight: 8, ..OutboxConfig::default() });
        let err = toml::from_str::<OutboxConfig>("timeout = 500\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
    }
}
