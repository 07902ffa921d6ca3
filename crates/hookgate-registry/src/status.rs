//! What the admin API reports about each tenant.

use std::time::SystemTime;

/// The state of one tenant folder.
#[derive(Debug, Clone)]
pub struct TenantStatus {
    /// The folder name (appKey or `_default`).
    pub tenant: String,
    /// The live generation; 0 when none ever loaded.
    pub generation: u64,
    /// When the live generation was built.
    pub loaded_at: Option<SystemTime>,
    /// The live generation's policies.
    pub policies: Vec<PolicyStatus>,
    /// The outcome of the last build, live or not.
    pub last_reload: Option<ReloadOutcome>,
    /// Builds that went live.
    pub reloads_ok: u64,
    /// Builds that were refused.
    pub reloads_failed: u64,
}

/// One policy of a live generation.
#[derive(Debug, Clone)]
pub struct PolicyStatus {
    /// The policy name.
    pub name: String,
    /// The module file, relative to the tenant folder.
    pub module: String,
    /// The sha256 of the module, when loaded.
    pub digest: Option<String>,
    /// Whether its evaluations reuse warm instances (`reuse = true`).
    pub reuse: bool,
    /// Why it is not loaded, when it is not.
    pub error: Option<String>,
}

/// The result of one build of a tenant.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// When the build finished.
    pub at: SystemTime,
    /// The generation it produced, if it went live.
    pub generation: Option<u64>,
    /// Why it was refused, if it was.
    pub error: Option<String>,
}

impl TenantStatus {
    pub(crate) fn new(tenant: &str) -> TenantStatus {
        TenantStatus {
            tenant: tenant.to_owned(),
            generation: 0,
            loaded_at: None,
            policies: Vec::new(),
            last_reload: None,
            reloads_ok: 0,
            reloads_failed: 0,
        }
    }
}
