//! The per-store host state: the `log` import and the memory limiter.

use crate::LogBudget;
use crate::bindings::hookgate::policy::host::{Host, Level};
use crate::capabilities::Grants;
use crate::policy::EvalLimits;
use crate::schedule::Turns;
use hookgate_protocol::Effect;
use std::sync::Arc;

/// Longest log line kept; longer lines are cut and marked.
const MAX_LOG_LINE: usize = 4096;

/// A policy's log budget over all its evaluations: the lines a second it may write, and the
/// warning that lines were dropped, written at most once a second with every line dropped since
/// the last one (a policy over its budget on every hook must not write a warning per hook).
pub(crate) struct PolicyLog {
    lines: LogBudget,
    warnings: LogBudget,
}

impl PolicyLog {
    /// A budget of `lines_per_s` lines a second (at least one).
    pub(crate) fn new(lines_per_s: u32) -> Arc<PolicyLog> {
        Arc::new(PolicyLog { lines: LogBudget::new(lines_per_s), warnings: LogBudget::new(1) })
    }

    /// Counts `dropped` lines: `Some(lines dropped since the last warning)` when one may be written now.
    fn dropped(&self, dropped: u32) -> Option<u64> {
        let dropped = u64::from(dropped);
        self.warnings.take_for(dropped).map(|earlier| earlier + dropped)
    }
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
    log: Arc<PolicyLog>,
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
        log: Arc<PolicyLog>,
        grants: Grants,
        clock: Arc<Turns>,
    ) -> Self {
        HostState {
            tags,
            limits,
            memory_exceeded: false,
            log_calls: 0,
            log_dropped: 0,
            log,
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

    /// Reports the log lines dropped by the per-evaluation cap or the rate limit, within the
    /// policy's warning budget.
    pub(crate) fn finish(&self) {
        if self.log_dropped == 0 {
            return;
        }
        if let Some(dropped) = self.log.dropped(self.log_dropped) {
            let LogTags { tenant, policy, method } = &self.tags;
            tracing::warn!(target: "hookgate::policy", %tenant, %policy, %method, dropped,
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
        if self.log_calls > self.limits.log_lines || !self.log.lines.allows() {
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

#[cfg(test)]
mod tests {
    use super::PolicyLog;

    #[test]
    fn dropped_lines_are_reported_once_a_second_and_none_is_lost_from_the_count() {
        let log = PolicyLog::new(10);
        // 1,000 evaluations dropping 3 lines each, in well under a second: one warning (two if
        // the loop straddles a second), and the count kept for the next one holds the rest.
        let reported: Vec<u64> = (0..1_000).filter_map(|_| log.dropped(3)).collect();
        assert!((1..=2).contains(&reported.len()), "{} warnings", reported.len());
        assert_eq!(reported[0], 3);
        let pending = log.warnings.held.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(reported.iter().sum::<u64>() + pending, 3_000);
    }
}
