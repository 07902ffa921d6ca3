//! The registry: the live tenant set, per-tenant reload tasks and their status.

use crate::status::{PolicyStatus, ReloadOutcome, TenantStatus};
use arc_swap::ArcSwap;
use hookgate_config::{DEFAULT_TENANT, MANIFEST_FILE, TenantBounds};
use hookgate_engine::{LoadedPolicy, Tenant, TenantSet};
use hookgate_runtime::Runtime;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Quiet time after the last change of a tenant folder before it is rebuilt.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// The live tenants of one policy tree, kept up to date with the files.
pub struct Registry {
    runtime: Runtime,
    bounds: TenantBounds,
    root: PathBuf,
    tenants: Arc<ArcSwap<TenantSet>>,
    status: Mutex<BTreeMap<String, TenantStatus>>,
    workers: Mutex<HashMap<String, Worker>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

/// The reload task of one tenant folder.
struct Worker {
    signal: mpsc::UnboundedSender<()>,
    /// Held while a build runs, so forced and watched reloads of a tenant never overlap.
    building: Arc<tokio::sync::Mutex<()>>,
}

impl Registry {
    /// Loads every tenant of `root` and returns the registry. Problems are returned too;
    /// tenants whose manifest is unusable are absent (the caller decides whether to serve).
    /// `bounds` are the operator's (`[tenants]` and `[limits]` of `hookgate.toml`): default
    /// limits, and what a tenant folder may name and read, for this load and every reload.
    pub async fn load(
        runtime: Runtime,
        root: &Path,
        bounds: TenantBounds,
    ) -> (Arc<Registry>, Vec<hookgate_engine::LoadIssue>) {
        let (set, issues) = hookgate_engine::load_tree(&runtime, root, &bounds).await;
        let mut status = BTreeMap::new();
        for tenant in set.iter() {
            let mut entry = TenantStatus::new(&tenant.name);
            record_live(&mut entry, tenant);
            entry.reloads_ok = 1;
            status.insert(tenant.name.clone(), entry);
        }
        let registry = Arc::new(Registry {
            runtime,
            bounds,
            root: root.to_owned(),
            tenants: Arc::new(ArcSwap::from_pointee(set)),
            status: Mutex::new(status),
            workers: Mutex::new(HashMap::new()),
            watcher: Mutex::new(None),
        });
        (registry, issues)
    }

    /// Starts watching the tree; changes are picked up until the registry is dropped.
    pub fn watch(self: &Arc<Self>) -> notify::Result<()> {
        let watcher = crate::watch::start(self, &self.root, tokio::runtime::Handle::current())?;
        *lock(&self.watcher) = Some(watcher);
        Ok(())
    }

    /// The live tenant set, for the hook handlers.
    pub fn tenants(&self) -> &Arc<ArcSwap<TenantSet>> {
        &self.tenants
    }

    /// The engine every tenant's policies run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The status of every tenant folder, by name.
    pub fn statuses(&self) -> Vec<TenantStatus> {
        lock(&self.status).values().cloned().collect()
    }

    /// Ready when every tenant folder has a live generation.
    pub fn ready(&self) -> bool {
        let status = lock(&self.status);
        !status.is_empty() && status.values().all(|tenant| tenant.generation > 0)
    }

    /// Rebuilds every tenant folder now (new ones included, removed ones dropped) and returns
    /// when all builds are done: for file systems that send no change events.
    pub async fn reload_all(self: &Arc<Self>) {
        let mut names: Vec<String> = lock(&self.status).keys().cloned().collect();
        if let Ok(dirs) = hookgate_config::tenant_dirs(&self.root) {
            names.extend(dirs.into_iter().map(|(name, _)| name));
        }
        names.sort();
        names.dedup();
        for name in names {
            let building = self.worker(&name);
            let _guard = building.lock().await;
            self.rebuild(&name).await;
        }
    }

    /// Signals a change in the folder of `tenant`; its task rebuilds it once quiet.
    pub(crate) fn signal(self: &Arc<Self>, tenant: &str) {
        let sender = {
            let workers = lock(&self.workers);
            workers.get(tenant).map(|worker| worker.signal.clone())
        };
        match sender {
            Some(sender) => {
                let _ = sender.send(());
            }
            None => {
                self.worker(tenant);
                self.signal(tenant);
            }
        }
    }

    /// The worker of `tenant`, started if needed; returns its build lock.
    fn worker(self: &Arc<Self>, tenant: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut workers = lock(&self.workers);
        if let Some(worker) = workers.get(tenant) {
            return Arc::clone(&worker.building);
        }
        let (signal, mut signals) = mpsc::unbounded_channel::<()>();
        let building = Arc::new(tokio::sync::Mutex::new(()));
        workers.insert(tenant.to_owned(), Worker { signal, building: Arc::clone(&building) });
        let registry = Arc::downgrade(self);
        let name = tenant.to_owned();
        let lock_for_task = Arc::clone(&building);
        tokio::spawn(async move {
            while signals.recv().await.is_some() {
                // Debounce: wait until the folder has been quiet for DEBOUNCE.
                while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, signals.recv()).await {}
                let Some(registry) = registry.upgrade() else { return };
                let _guard = lock_for_task.lock().await;
                registry.rebuild(&name).await;
            }
        });
        building
    }

    /// Builds the next generation of `tenant` and swaps it in if it passes every check.
    async fn rebuild(&self, tenant: &str) {
        let dir = self.root.join(tenant);
        if tenant.starts_with('.') {
            return;
        }
        if !dir.join(MANIFEST_FILE).is_file() {
            let existed = lock(&self.status).remove(tenant).is_some();
            if existed {
                self.tenants.rcu(|set| set.without(tenant));
                tracing::info!(tenant, "tenant folder removed: tenant unloaded");
            }
            return;
        }
        let previous = lock(&self.status).get(tenant).map_or(0, |status| status.generation);
        let outcome = self.build(tenant, &dir, previous + 1).await;
        let mut status = lock(&self.status);
        let entry = status.entry(tenant.to_owned()).or_insert_with(|| TenantStatus::new(tenant));
        match outcome {
            Ok(next) => {
                record_live(entry, &next);
                entry.reloads_ok += 1;
                entry.last_reload =
                    Some(ReloadOutcome { at: SystemTime::now(), generation: Some(next.generation), error: None });
                self.tenants.rcu(|set| set.with(Arc::clone(&next)));
                tracing::info!(tenant, generation = next.generation, "new generation live");
            }
            Err(error) => {
                tracing::error!(tenant, "reload refused, the last good generation keeps serving: {error}");
                entry.reloads_failed += 1;
                entry.last_reload = Some(ReloadOutcome { at: SystemTime::now(), generation: None, error: Some(error) });
                if entry.generation == 0 {
                    self.tenants.rcu(|set| set.with_pending(tenant));
                }
            }
        }
    }

    /// Builds and checks a candidate generation.
    async fn build(&self, tenant: &str, dir: &Path, generation: u64) -> Result<Arc<Tenant>, String> {
        let (mut next, problems) = hookgate_engine::load_tenant(&self.runtime, tenant, dir, &self.bounds)
            .await
            .map_err(|err| err.to_string())?;
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        next.generation = generation;
        let next = Arc::new(next);
        let candidate = TenantSet::default().with(Arc::clone(&next));
        let routed = (tenant != DEFAULT_TENANT).then_some(tenant);
        // Case files and payloads are read on a blocking thread, like the manifest and modules.
        let (folder, bounds) = (dir.to_owned(), self.bounds.clone());
        let cases = tokio::task::spawn_blocking(move || hookgate_engine::cases::load_cases(&folder, &bounds))
            .await
            .map_err(|err| format!("the task reading the test cases failed: {err}"))??;
        for (file, cases) in cases {
            for case in cases {
                case.run(&candidate, routed, hookgate_engine::now_ms())
                    .await
                    .map_err(|err| format!("test case '{}' ({}) fails: {err}", case.name, file.display()))?;
            }
        }
        Ok(next)
    }
}

/// Copies a live generation's facts into its status.
fn record_live(entry: &mut TenantStatus, tenant: &Tenant) {
    entry.generation = tenant.generation;
    entry.loaded_at = Some(tenant.loaded_at);
    entry.policies = tenant
        .manifest
        .policies
        .iter()
        .map(|(name, decl)| {
            let (digest, error) = match tenant.policies.get(name) {
                Some(LoadedPolicy::Ready(policy)) => (Some(policy.digest().to_owned()), None),
                Some(LoadedPolicy::NotLoaded(reason)) => (None, Some(reason.to_string())),
                None => (None, Some("not built".into())),
            };
            let module = decl.module.display().to_string();
            PolicyStatus { name: name.clone(), module, digest, reuse: decl.reuse, error }
        })
        .collect();
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent; a panic elsewhere must not stop reloads.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
