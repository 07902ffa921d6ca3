//! The per-store host state: the `log` import and the memory limiter.

use crate::bindings::hookgate::policy::host::{Host, Level};
use crate::capabilities::Grants;
use crate::policy::EvalLimits;
use crate::schedule::Turns;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hookgate_protocol::Effect;
use std::num::NonZeroU32;
use std::sync::Arc;

/// Longest log line kept; longer lines are cut and marked.
const MAX_LOG_LINE: usize = 4096;

/// The log lines per second a policy may write over all its evaluations.
pub(crate) fn log_rate(lines_per_s: u32) -> Arc<DefaultDirectRateLimiter> {
    Arc::new(RateLimiter::direct(Quota::per_second(NonZeroU32::new(lines_per_s).unwrap_or(NonZeroU32::MIN))))
}

/// Who is evaluating, for the log lines a policy writes.
#[derive(Debug, Clone)]
pub(crate) struct LogTags {
    pub(crate) tenant: Arc<str>,
    pub(crate) policy: Arc<str>,
    pub(crate) method: Arc<str>,
}

/// What one store owns. Built fresh for every evaluation.
pub(crate) struct HostState {
    pub(crate) tags: LogTags,
    pub(crate) limits: EvalLimits,
    pub(crate) memory_exceeded: bool,
    pub(crate) log_calls: u32,
    log_dropped: u32,
    log_rate: Arc<DefaultDirectRateLimiter>,
    pub(crate) grants: Grants,
    /// Updates made through `state` so far (the sequence number of the next one).
    pub(crate) state_ops: u32,
    pub(crate) effects: Vec<Effect>,
    /// The evaluation's clock: host calls the guest awaits stop it.
    pub(crate) clock: Arc<Turns>,
}

impl HostState {
    pub(crate) fn new(
        tags: LogTags,
        limits: EvalLimits,
        log_rate: Arc<DefaultDirectRateLimiter>,
        grants: Grants,
        clock: Arc<Turns>,
    ) -> Self {
        HostState {
            tags,
            limits,
            memory_exceeded: false,
            log_calls: 0,
            log_dropped: 0,
            log_rate,
            grants,
            state_ops: 0,
            effects: Vec::new(),
            clock,
        }
    }

    /// Whether the evaluation was stopped for making too many log calls.
    pub(crate) fn log_flooded(&self) -> bool {
        self.log_calls > self.limits.log_calls
    }

    /// Reports log lines that were dropped by the per-evaluation cap or the rate limit.
    pub(crate) fn finish(&self) {
        if self.log_dropped > 0 {
            let LogTags { tenant, policy, method } = &self.tags;
            tracing::warn!(target: "hookgate::policy", %tenant, %policy, %method, dropped = self.log_dropped,
                "policy log lines over the per-evaluation cap or the per-second rate were dropped");
        }
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_calls = self.log_calls.saturating_add(1);
        if self.log_flooded() {
            let calls = self.limits.log_calls;
            return Err(wasmtime::format_err!("policy made more than {calls} log calls in one evaluation"));
        }
        if self.log_calls > self.limits.log_lines || self.log_rate.check().is_err() {
            self.log_dropped += 1;
            return Ok(());
        }
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("…[truncated]");
        }
        let LogTags { tenant, policy, method } = &self.tags;
        match level {
            Level::Trace => tracing::trace!(target: "hookgate::policy", %tenant, %policy, %method, "{message}"),
            Level::Debug => tracing::debug!(target: "hookgate::policy", %tenant, %policy, %method, "{message}"),
            Level::Info => tracing::info!(target: "hookgate::policy", %tenant, %policy, %method, "{message}"),
            Level::Warn => tracing::warn!(target: "hookgate::policy", %tenant, %policy, %method, "{message}"),
            Level::Error => tracing::error!(target: "hookgate::policy", %tenant, %policy, %method, "{message}"),
        }
        Ok(())
    }
}

impl crate::bindings::hookgate::policy::types::Host for HostState {}

impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let cap = usize::try_from(self.limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        if desired > cap {
            self.memory_exceeded = true;
            return Err(wasmtime::format_err!("memory limit of {cap} bytes exceeded"));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.limits.table_elements as usize)
    }
}
