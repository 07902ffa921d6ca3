//! Tenants: a manifest with its policies compiled and validated.

use hookgate_config::{ConfigError, DEFAULT_TENANT, FileKind, PolicyDecl, TenantBounds, TenantFiles, TenantManifest};
use hookgate_protocol::rest_client_config::{self, MethodEntry};
use hookgate_protocol::{Capability, OnError};
use hookgate_runtime::{EvalLimits, Policy, Runtime};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A policy of a tenant: ready to evaluate, or configured but not loaded (and why).
#[derive(Clone)]
pub enum LoadedPolicy {
    /// Compiled, linked and its settings accepted.
    Ready(Policy),
    /// Could not be loaded; every hook that reaches it fails with cause `not-loaded`.
    NotLoaded(String),
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
}

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

/// Loads every tenant of the tree at `root`.
///
/// A manifest that cannot be read or validated is an error for its tenant: the tenant is
/// left out and the issue returned. A module that cannot be loaded (missing, not a valid
/// component, an import that is not granted, settings refused) leaves its policy
/// [`LoadedPolicy::NotLoaded`]; that is reported too. `bounds` are the operator's: default
/// limits, and what a tenant folder may name and read.
pub async fn load_tree(runtime: &Runtime, root: &Path, bounds: &TenantBounds) -> (TenantSet, Vec<LoadIssue>) {
    let mut tenants = Vec::new();
    let mut issues = Vec::new();
    let dirs = match hookgate_config::tenant_dirs(root) {
        Ok(dirs) => dirs,
        Err(err) => {
            issues.push(LoadIssue {
                tenant: String::new(),
                message: format!("{}: cannot list the policy tree: {err}", root.display()),
                tenant_skipped: true,
            });
            return (TenantSet::new([]), issues);
        }
    };
    if dirs.is_empty() {
        issues.push(LoadIssue {
            tenant: String::new(),
            message: format!("{}: no tenant folders (each needs a {})", root.display(), hookgate_config::MANIFEST_FILE),
            tenant_skipped: true,
        });
    }
    for (name, dir) in dirs {
        match load_tenant(runtime, &name, &dir, bounds).await {
            Ok((tenant, problems)) => {
                issues.extend(problems.into_iter().map(|message| LoadIssue {
                    tenant: name.clone(),
                    message,
                    tenant_skipped: false,
                }));
                tenants.push(tenant);
            }
            Err(err) => issues.push(LoadIssue { tenant: name, message: err.to_string(), tenant_skipped: true }),
        }
    }
    (TenantSet::new(tenants), issues)
}

/// Loads one tenant folder. Returns the tenant and the problems of policies that did not load.
/// The manifest and the secrets it names are read on a blocking thread, within `bounds`.
pub async fn load_tenant(
    runtime: &Runtime,
    name: &str,
    dir: &Path,
    bounds: &TenantBounds,
) -> Result<(Tenant, Vec<String>), ConfigError> {
    let (folder, operator) = (dir.to_owned(), bounds.clone());
    let manifest = tokio::task::spawn_blocking(move || hookgate_config::load_tenant(&folder, &operator))
        .await
        .map_err(|err| ConfigError::Read {
            path: dir.join(hookgate_config::MANIFEST_FILE),
            source: std::io::Error::other(format!("the loading task failed: {err}")),
        })??;
    Ok(build_tenant(runtime, name, manifest, bounds).await)
}

/// Builds a tenant from a validated manifest: reads its modules within `bounds`, compiles them
/// and validates their settings. Returns the tenant and the problems of policies that did not
/// load.
pub async fn build_tenant(
    runtime: &Runtime,
    name: &str,
    manifest: TenantManifest,
    bounds: &TenantBounds,
) -> (Tenant, Vec<String>) {
    let configured = &manifest.limits;
    let limits = EvalLimits {
        timeout_ms: configured.timeout_ms,
        memory_mb: configured.memory_mb,
        max_output_bytes: usize::try_from(configured.max_output_kb.saturating_mul(1024)).unwrap_or(usize::MAX),
        table_elements: configured.table_elements,
        log_lines: configured.log_lines,
        log_calls: configured.log_calls,
    };
    let log_rate = configured.log_lines_per_s;
    let slots = Arc::new(tokio::sync::Semaphore::new(manifest.limits.max_concurrent as usize));
    let mut policies = HashMap::new();
    let mut problems = Vec::new();
    for (policy_name, decl) in &manifest.policies {
        let module = manifest.dir.join(&decl.module);
        let loaded =
            match load_policy(runtime, (name, policy_name, log_rate), (&manifest.dir, bounds), decl, limits).await {
                Ok(policy) => LoadedPolicy::Ready(policy),
                Err(reason) => {
                    problems.push(format!("policy '{policy_name}' ({}): {reason}", module.display()));
                    LoadedPolicy::NotLoaded(reason)
                }
            };
        policies.insert(policy_name.clone(), loaded);
    }
    let entries: Vec<MethodEntry> = manifest
        .methods
        .iter()
        .filter(|rule| rule.canonical.is_some())
        .map(|rule| MethodEntry {
            method: rule.method.clone(),
            on_error: rule.on_error,
            overwrite: rule.overwrite.clone(),
        })
        .collect();
    let rest_client_config = rest_client_config::build(&entries).to_string();
    let rules = resolve_rules(&manifest, &policies);
    let tenant = Tenant {
        name: name.to_owned(),
        manifest,
        policies,
        rules,
        limits,
        rest_client_config,
        slots,
        generation: 1,
        loaded_at: std::time::SystemTime::now(),
    };
    (tenant, problems)
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

/// Resolves every rule's chain to its policies and grants. A name the manifest does not
/// declare (the manifest check refuses it) resolves to a policy that is not loaded.
fn resolve_rules(manifest: &TenantManifest, policies: &HashMap<String, LoadedPolicy>) -> Vec<Rule> {
    let link = |name: &String| {
        let decl = manifest.policies.get(name);
        Link {
            name: name.clone(),
            policy: policies
                .get(name)
                .cloned()
                .unwrap_or_else(|| LoadedPolicy::NotLoaded("it is not declared in [policies]".into())),
            settings: decl.map(|decl| decl.settings.clone()).unwrap_or_default(),
            grants: decl.map(|decl| decl.capabilities.clone()).unwrap_or_default(),
        }
    };
    manifest
        .methods
        .iter()
        .map(|rule| Rule {
            canonical: rule.canonical.clone(),
            on_error: rule.on_error,
            overwrite: rule.overwrite.clone(),
            chain: rule.chain.iter().map(link).collect(),
        })
        .collect()
}

async fn load_policy(
    runtime: &Runtime,
    (tenant, name, log_rate): (&str, &str, u32),
    (dir, bounds): (&Path, &TenantBounds),
    decl: &PolicyDecl,
    limits: EvalLimits,
) -> Result<Policy, String> {
    // Reading (up to `max_module_mb`, inside the tenant folder) and compiling (milliseconds for
    // Rust, seconds for Python and JS unless the disk cache has them; one at a time) never run
    // on an async worker: hooks keep being served.
    let (compiler, dir, module, bounds) = (runtime.clone(), dir.to_owned(), decl.module.clone(), bounds.clone());
    let compiled = tokio::task::spawn_blocking(move || {
        let bytes = TenantFiles::new(&dir, &bounds).read(&module, FileKind::Module).map_err(|err| err.to_string())?;
        compiler.compile_bounded(&bytes, bounds.max_functions).map_err(|err| hookgate_config::error_chain(&err))
    })
    .await
    .map_err(|err| format!("compilation task failed: {err}"))?;
    let policy = compiled?.named(tenant, name, log_rate).reusing(decl.reuse);
    if let Some(missing) = policy.capabilities().into_iter().find(|used| !decl.capabilities.contains(used)) {
        return Err(format!(
            "the module imports hookgate:policy/{missing}, a capability this policy is not granted \
             (add capabilities = [\"{missing}\"] to [policies.{name}] to grant it)"
        ));
    }
    match policy.validate_settings(&decl.settings, limits).await {
        Ok(Ok(())) => Ok(policy),
        Ok(Err(reason)) => Err(format!("settings refused by the policy: {reason}")),
        Err(failure) => Err(format!("validate-settings failed: {failure}")),
    }
}
