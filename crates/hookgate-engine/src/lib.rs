//! Tenants and decisions.
//!
//! [`load_tree`] turns a policy tree into a [`TenantSet`]: every tenant's manifest parsed, its
//! modules compiled and their settings validated. [`TenantSet::decide`] answers one WCS hook:
//! tenant by `appKey`, WCS authentication, the method's chain run policy by policy, overrides
//! checked and merged, failures mapped to the method's `restOnError` fallback, the kind rules
//! (events and REST-API-initiated hooks are never denied) and `restClientConfig` on `connect`.

mod answer;
mod auth;
pub mod cases;
mod chain;
mod decide;
mod decision;
mod hook;
mod load;
mod refusal;
mod tenant;

pub use answer::{Answer, Body, Said, answer};
pub use decide::Services;
pub use decision::{Carried, Cause, Decision, Outcome, PolicyRun, Refusal, RunOutcome};
pub use hook::{BadHook, Hook, HookRequest};
pub use hookgate_runtime::{Effect, MAX_POLICY_TEXT, bounded_text};

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The `tracing` target of the hook path's spans (`decide`, `policy`, `answer`, `session`, and
/// the server's `hook` and `effects`): only the trace exporter's layer enables it, so without
/// it no such span is created. Their fields are names, verdicts, causes, statuses and counts,
/// never a value of the payload.
pub const TRACE_TARGET: &str = "hookgate::trace";

/// A budget of log lines per second for one place that clients can make log (refused hooks,
/// dropped messages): past it, lines are held back and counted, so that a flood of bad
/// requests cannot flood the log.
pub struct LogBudget {
    per_second: u32,
    second: AtomicU64,
    used: AtomicU32,
    held: AtomicU64,
}

impl LogBudget {
    /// A budget of `per_second` lines a second.
    pub const fn new(per_second: u32) -> LogBudget {
        LogBudget { per_second, second: AtomicU64::new(0), used: AtomicU32::new(0), held: AtomicU64::new(0) }
    }

    /// `Some(lines held back since the last line let through)` if a line may be written now.
    pub fn take(&self) -> Option<u64> {
        let second = now_ms() / 1000;
        if self.second.swap(second, Ordering::Relaxed) != second {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Some(self.held.swap(0, Ordering::Relaxed))
        } else {
            self.held.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Now, in milliseconds since the Unix epoch: a hook's reception time.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
pub use load::{PolicyError, build_tenant, load_tenant, load_tree};
pub use tenant::{Link, LoadIssue, LoadedPolicy, Rule, Tenant, TenantSet};

#[cfg(test)]
mod tests {
    use super::LogBudget;

    #[test]
    fn a_log_budget_holds_back_and_counts_past_its_rate() {
        let budget = LogBudget::new(2);
        // Within one second (the test may straddle a boundary: then the budget restarts).
        let taken: Vec<_> = (0..5).map(|_| budget.take()).collect();
        if taken[2].is_none() {
            assert_eq!(taken, [Some(0), Some(0), None, None, None]);
            assert_eq!(budget.held.load(std::sync::atomic::Ordering::Relaxed), 3);
        }
    }
}

#[cfg(test)]
#[path = "tests/one_parse.rs"]
mod one_parse;
