//! The per-store host state: the `log` import and the memory limiter.

use crate::bindings::hookgate::policy::host::{Host, Level};
use std::sync::Arc;

/// Longest log line kept; longer lines are cut and marked.
const MAX_LOG_LINE: usize = 4096;
/// Log lines kept per evaluation; the rest are counted and reported once.
const MAX_LOG_LINES: u32 = 100;
/// Log calls allowed per evaluation; past this the policy is stopped (a `log-flood` failure).
pub(crate) const MAX_LOG_CALLS: u32 = 10_000;

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
    pub(crate) memory_cap: usize,
    pub(crate) memory_exceeded: bool,
    pub(crate) log_lines: u32,
}

impl HostState {
    pub(crate) fn new(tags: LogTags, memory_cap: usize) -> Self {
        HostState { tags, memory_cap, memory_exceeded: false, log_lines: 0 }
    }

    /// Reports log lines that were dropped by the per-evaluation cap.
    pub(crate) fn finish(&self) {
        if self.log_lines > MAX_LOG_LINES {
            let LogTags { tenant, policy, method } = &self.tags;
            tracing::warn!(target: "hookgate::policy", %tenant, %policy, %method,
                dropped = self.log_lines - MAX_LOG_LINES, "policy log lines over the per-evaluation cap were dropped");
        }
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines = self.log_lines.saturating_add(1);
        if self.log_lines > MAX_LOG_CALLS {
            return Err(wasmtime::format_err!("policy made more than {MAX_LOG_CALLS} log calls in one evaluation"));
        }
        if self.log_lines > MAX_LOG_LINES {
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
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            return Err(wasmtime::format_err!("memory limit of {} bytes exceeded", self.memory_cap));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= crate::runtime::TABLE_ELEMENTS)
    }
}
