//! Loading: a policy tree into tenants, each manifest's modules read within the operator's
//! bounds, compiled, checked against their grants, and their settings validated.

use crate::tenant::{Link, LoadIssue, LoadedPolicy, Rule, Tenant, TenantSet};
use hookgate_config::{ConfigError, FileError, FileKind, PolicyDecl, TenantBounds, TenantFiles, TenantManifest};
use hookgate_protocol::Capability;
use hookgate_protocol::rest_client_config::{self, MethodEntry};
use hookgate_runtime::{EvalLimits, Failure, LoadError, Policy, Runtime};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Why a policy of a tenant is not loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Its module could not be read from the tenant folder.
    #[error(transparent)]
    Read(#[from] FileError),
    /// Its module is not a policy this runtime can load.
    #[error("{}", hookgate_config::error_chain(.0))]
    Load(#[from] LoadError),
    /// The blocking task that read and compiled it failed.
    #[error("compilation task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// It imports a capability its manifest entry does not grant.
    #[error(
        "the module imports hookgate:policy/{capability}, a capability this policy is not granted \
         (add capabilities = [\"{capability}\"] to [policies.{policy}] to grant it)"
    )]
    NotGranted {
        /// The capability imported.
        capability: Capability,
        /// The policy.
        policy: String,
    },
    /// Its `validate-settings` refused the settings.
    #[error("settings refused by the policy: {0}")]
    SettingsRefused(String),
    /// Its `validate-settings` failed.
    #[error("validate-settings failed: {0}")]
    ValidateFailed(Failure),
    /// A chain names it but `[policies]` does not declare it.
    #[error("it is not declared in [policies]")]
    Undeclared,
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
    let mut policies = HashMap::new();
    let mut problems = Vec::new();
    for (policy_name, decl) in &manifest.policies {
        let module = manifest.dir.join(&decl.module);
        let loaded =
            match load_policy(runtime, (name, policy_name, log_rate), (&manifest.dir, bounds), decl, limits).await {
                Ok(policy) => LoadedPolicy::Ready(policy),
                Err(reason) => {
                    problems.push(format!("policy '{policy_name}' ({}): {reason}", module.display()));
                    LoadedPolicy::NotLoaded(Arc::new(reason))
                }
            };
        policies.insert(policy_name.clone(), loaded);
    }
    let tenant = Tenant::assemble(name, manifest, policies, limits);
    (tenant, problems)
}

impl Tenant {
    /// A tenant of generation 1 from a validated manifest and its policies as loaded: its
    /// `restClientConfig`, evaluation slots and rules resolved here.
    pub fn assemble(
        name: &str,
        manifest: TenantManifest,
        policies: HashMap<String, LoadedPolicy>,
        limits: EvalLimits,
    ) -> Tenant {
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
        Tenant {
            name: name.to_owned(),
            rest_client_config: rest_client_config::build(&entries).to_string(),
            slots: Arc::new(tokio::sync::Semaphore::new(manifest.limits.max_concurrent as usize)),
            rules: resolve_rules(&manifest, &policies),
            manifest,
            policies,
            limits,
            generation: 1,
            loaded_at: std::time::SystemTime::now(),
            failure_log: crate::LogBudget::new(crate::tenant::FAILURE_LINES_PER_SECOND),
        }
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
                .unwrap_or_else(|| LoadedPolicy::NotLoaded(Arc::new(PolicyError::Undeclared))),
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
) -> Result<Policy, PolicyError> {
    // Reading (up to `max_module_mb`, inside the tenant folder) and compiling (milliseconds for
    // Rust, seconds for Python and JS unless the disk cache has them; one at a time) never run
    // on an async worker: hooks keep being served.
    let (compiler, dir, module, bounds) = (runtime.clone(), dir.to_owned(), decl.module.clone(), bounds.clone());
    let compiled = tokio::task::spawn_blocking(move || -> Result<Policy, PolicyError> {
        let bytes = TenantFiles::new(&dir, &bounds).read(&module, FileKind::Module)?;
        Ok(compiler.compile_bounded(&bytes, bounds.max_functions)?)
    })
    .await??;
    let policy = compiled.named(tenant, name, log_rate).reusing(decl.reuse);
    if let Some(missing) = policy.capabilities().into_iter().find(|used| !decl.capabilities.contains(used)) {
        return Err(PolicyError::NotGranted { capability: missing, policy: name.to_owned() });
    }
    match policy.validate_settings(&decl.settings, limits).await {
        Ok(Ok(())) => Ok(policy),
        Ok(Err(reason)) => Err(PolicyError::SettingsRefused(reason)),
        Err(failure) => Err(PolicyError::ValidateFailed(failure)),
    }
}
