//! Tenants: a manifest with its policies compiled and validated.

use crate::load::PolicyError;
use hookgate_config::{DEFAULT_TENANT, TenantManifest};
use hookgate_protocol::{Capability, OnError};
use hookgate_runtime::{EvalLimits, Policy};
use std::collections::HashMap;
use std::sync::Arc;

/// A policy of a tenant: ready to evaluate, or configured but not loaded (and why).
#[derive(Clone)]
pub enum LoadedPolicy {
    /// Compiled, linked and its settings accepted.
    Ready(Policy),
    /// Could not be loaded; every hook that reaches it fails with cause `not-loaded`.
    NotLoaded(Arc<PolicyError>),
}

/// A policy in a chain, with what it is granted: resolved when the tenant is built.
#[derive(Clone)]
pub struct Link {
    /// The policy name.
    pub name: String,
    /// The policy, or why it is not loaded.
    pub policy: LoadedPolicy,
    /// Its settings, as JSON text.
    pub settings: String,
    /// The capabilities its manifest grants.
    pub grants: Vec<Capability>,
}

impl Link {
    /// Whether `capability` is granted.
    pub fn granted(&self, capability: Capability) -> bool {
        self.grants.contains(&capability)
    }
}

/// A method rule of a tenant with its chain resolved.
pub struct Rule {
    /// The canonical method name; `None` for `"*"`.
    pub canonical: Option<String>,
    /// What a failed chain answers.
    pub on_error: OnError,
    /// Top-level fields the chain may override (an event's never: see the chain runner).
    pub overwrite: Vec<String>,
    /// The policies run in order.
    pub chain: Vec<Link>,
}

/// One tenant (`appKey`) ready to answer hooks. Immutable once built.
pub struct Tenant {
    /// The folder name: the appKey, or `_default`.
    pub name: String,
    /// The validated manifest.
    pub manifest: TenantManifest,
    /// The tenant's policies by name.
    pub policies: HashMap<String, LoadedPolicy>,
    /// The method rules, in manifest order, with their chains resolved.
    pub rules: Vec<Rule>,
    /// Limits applied to every evaluation.
    pub limits: EvalLimits,
    /// The `restClientConfig` added to allowed `connect` answers, serialised once.
    pub rest_client_config: String,
    /// Evaluation slots of this tenant (`limits.max_concurrent`): one per hook whose chain runs.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The generation number: 1 for the first load, one more for each reload that went live.
    pub generation: u64,
    /// When this generation was built.
    pub loaded_at: std::time::SystemTime,
    /// The warnings of this tenant's failed chains: [`FAILURE_LINES_PER_SECOND`], so a tenant
    /// whose policy fails on every hook neither floods the log nor uses up another's lines.
    pub failure_log: crate::LogBudget,
}

/// Warnings about failed chains logged a second, per tenant; the next line says how many were
/// held back (every failure is still counted in the metrics and the decision log).
pub(crate) const FAILURE_LINES_PER_SECOND: u32 = 10;

/// A problem found while loading a policy tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadIssue {
    /// The tenant folder.
    pub tenant: String,
    /// What went wrong, naming the file, key or policy.
    pub message: String,
    /// Whether the tenant was left out (its manifest or the tree is unusable), rather than
    /// loaded with a policy marked not loaded.
    pub tenant_skipped: bool,
}

/// Every tenant of a policy tree. Immutable: a reload builds a new set sharing the tenants
/// that did not change.
#[derive(Clone, Default)]
pub struct TenantSet {
    pub(crate) tenants: HashMap<String, Arc<Tenant>>,
    pub(crate) default: Option<Arc<Tenant>>,
    /// Tenant folders that exist but have no loaded generation: their appKeys must not fall
    /// through to `_default`.
    pub(crate) pending: std::collections::HashSet<String>,
    /// The top-level fields the tenants' REST-API matchers name: kept by the one parse.
    pub(crate) matcher_roots: Arc<[String]>,
}

/// Where an appKey's hooks go.
pub(crate) enum Route<'a> {
    /// To this tenant.
    Tenant(&'a Arc<Tenant>),
    /// Its folder exists but never loaded.
    Pending,
    /// No folder and no `_default`.
    Missing,
}

impl TenantSet {
    /// A set of already built tenants; the one named `_default` serves unknown appKeys.
    pub fn new(tenants: impl IntoIterator<Item = Tenant>) -> TenantSet {
        let mut set = TenantSet::default();
        for tenant in tenants {
            set = set.with(Arc::new(tenant));
        }
        set
    }

    /// A set where one tenant answers every appKey (for `eval` and `test` of a single folder).
    pub fn only(tenant: Tenant) -> TenantSet {
        TenantSet { default: Some(Arc::new(tenant)), ..TenantSet::default() }.with_roots()
    }

    /// This set with `tenant` added or replaced (it is no longer pending).
    pub fn with(&self, tenant: Arc<Tenant>) -> TenantSet {
        let mut next = self.clone();
        next.pending.remove(&tenant.name);
        if tenant.name == DEFAULT_TENANT {
            next.default = Some(tenant);
        } else {
            next.tenants.insert(tenant.name.clone(), tenant);
        }
        next.with_roots()
    }

    /// This set without the tenant `name` (its appKey falls to `_default` again).
    pub fn without(&self, name: &str) -> TenantSet {
        let mut next = self.clone();
        next.pending.remove(name);
        if name == DEFAULT_TENANT {
            next.default = None;
        } else {
            next.tenants.remove(name);
        }
        next.with_roots()
    }

    /// This set with its matcher roots gathered from its tenants.
    fn with_roots(mut self) -> TenantSet {
        let mut roots: Vec<String> = self
            .iter()
            .flat_map(|tenant| tenant.manifest.rest_api_initiated.iter())
            .filter_map(|matcher| matcher.path.first().cloned())
            .collect();
        roots.sort_unstable();
        roots.dedup();
        self.matcher_roots = roots.into();
        self
    }

    /// This set with `name` marked pending (a folder without a loaded generation), unless
    /// it has one.
    pub fn with_pending(&self, name: &str) -> TenantSet {
        let mut next = self.clone();
        if next.get(name).is_none() {
            next.pending.insert(name.to_owned());
        }
        next
    }

    /// The tenant named `name` (`_default` included).
    pub fn get(&self, name: &str) -> Option<&Arc<Tenant>> {
        if name == DEFAULT_TENANT { self.default.as_ref() } else { self.tenants.get(name) }
    }

    pub(crate) fn route(&self, app_key: &str) -> Route<'_> {
        if let Some(tenant) = self.tenants.get(app_key) {
            Route::Tenant(tenant)
        } else if self.pending.contains(app_key) {
            Route::Pending
        } else if let Some(tenant) = &self.default {
            Route::Tenant(tenant)
        } else {
            Route::Missing
        }
    }

    /// All tenants, `_default` included, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.tenants.values().chain(self.default.iter())
    }
}

impl Tenant {
    /// The rule for a method (by canonical name), else the `"*"` rule, else none.
    pub fn rule(&self, canonical: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|rule| rule.canonical.as_deref() == Some(canonical))
            .or_else(|| self.rules.iter().find(|rule| rule.canonical.is_none()))
    }
}
