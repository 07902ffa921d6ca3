//! Tenants and decisions.
//!
//! [`load_tree`] turns a policy tree into a [`TenantSet`]: every tenant's manifest parsed, its
//! modules compiled and their settings validated. [`TenantSet::decide`] answers one WCS hook:
//! tenant by `appKey`, WCS authentication, the method's chain run policy by policy, overrides
//! checked and merged, failures mapped to the method's `restOnError` fallback, the kind rules
//! (events and REST-API-initiated hooks are never denied) and `restClientConfig` on `connect`.

mod auth;
pub mod cases;
mod decide;
mod tenant;

pub use decide::{BadHook, Body, Decision, HookRequest, PolicyRun, Services};
pub use hookgate_runtime::Outgoing;

/// Now, in milliseconds since the Unix epoch: a hook's reception time.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
pub use tenant::{LoadIssue, LoadedPolicy, Tenant, TenantSet, build_tenant, load_tenant, load_tree};
