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
pub use hookgate_runtime::{Effect, LogBudget, MAX_LOGGED_METHOD, MAX_POLICY_TEXT, bounded_text};

/// The `tracing` target of the hook path's spans (`decide`, `policy`, `answer`, `session`, and
/// the server's `hook` and `effects`): only the trace exporter's layer enables it, so without
/// it no such span is created. Their fields are names, verdicts, causes, statuses and counts,
/// never a value of the payload.
pub const TRACE_TARGET: &str = "hookgate::trace";

/// Now, in milliseconds since the Unix epoch: a hook's reception time.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub use load::{PolicyError, build_tenant, load_tenant, load_tree};
pub use tenant::{Link, LoadIssue, LoadedPolicy, Rule, Tenant, TenantSet};

#[cfg(test)]
#[path = "tests/one_parse.rs"]
mod one_parse;
