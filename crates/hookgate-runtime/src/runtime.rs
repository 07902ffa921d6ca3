//! The process-wide engine, its epoch ticker and the compile caches.
//!
//! Compiled modules are cached twice. In memory, by sha256 of the module bytes, while any
//! policy uses them (plus the last 16, for rollbacks). On disk, when
//! [`RuntimeConfig::cache_dir`] is set, through wasmtime's own cache (the `cache` feature): the
//! artifact is keyed by a hash of the module bytes, the wasmtime version and the engine's
//! compilation settings, so a restart or a reload of a module compiled before loads it in
//! milliseconds instead of compiling it again (Python and JavaScript modules take seconds).
//! The loading is wasmtime's (`Component::new` finds the entry itself), so hookgate has no
//! `unsafe` deserialization of its own. The directory holds native code that wasmtime loads
//! without verifying it again: it must be writable by hookgate's user only.

use crate::bindings::{CapablePolicy, CapablePolicyPre};
use crate::errors::LoadError;
use crate::host::HostState;
use crate::policy::Policy;
use crate::reuse::{ReuseCounters, ReuseStats};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context;
use wasmtime::{Cache, CacheConfig, Config, Enabled, Engine, PoolingAllocationConfig};

/// Table elements a guest may have at most (docs/design/runtime.md#pooling-allocator-settings: SpiderMonkey needs ≥ 10,000);
/// per-tenant caps sit below it.
pub(crate) const TABLE_ELEMENTS: u32 = 20_000;
/// Compiled modules kept alive after their last user is gone.
const RECENT: usize = 16;
/// How often the epoch advances: how long a long evaluation runs before it yields its worker,
/// and the granularity of deadlines. 100 µs cost 20 % of hook throughput (10,000 wake-ups a
/// second on two cores); the long lane (`schedule`) protects short evaluations instead.
const EPOCH_TICK: Duration = Duration::from_millis(1);
/// What one component instance may use at most (the pooling allocator refuses more); a kept
/// instance is counted at these maxima so that kept instances never take a slot an
/// evaluation needs.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 16;

/// Sizing of the sandbox.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Evaluations that may run at once (each holds one pooled instance while it runs).
    pub max_concurrent: u32,
    /// Hard ceiling of any policy's linear memory, in MiB; per-tenant caps sit below it.
    pub max_memory_mb: u64,
    /// Evaluations running for longer than half a millisecond that may run at once (the long
    /// lane); the other workers stay free for short evaluations.
    pub long_lanes: u32,
    /// Instances that policies in `reuse` mode may keep between evaluations, over all
    /// policies and tenants (each policy keeps at most one per CPU). The pooling allocator
    /// gets this many slots on top of the `max_concurrent` that evaluations use, each counted
    /// at the per-component maxima (64 core instances, 4 memories, 16 tables, 1 stack), so
    /// kept instances never starve evaluations. Each kept instance holds its linear memory
    /// (the pages it dirtied stay resident: ~0.7 MiB for Python, up to the tenant's
    /// `memory_mb`). 0 turns reuse off everywhere.
    pub kept_instances: u32,
    /// The on-disk cache of compiled modules (created if missing; must be an absolute path
    /// writable by hookgate's user only, since it holds native code). `None`: no disk cache,
    /// every process compiles each module once. See [`RuntimeConfig::default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    /// Sized for the machine's CPUs, with no disk cache: a library user (a test, `hookgate
    /// check` in CI) should not write native code under the user's home unasked.
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        RuntimeConfig {
            max_concurrent: 256,
            max_memory_mb: 256,
            long_lanes: u32::try_from(workers / 2).unwrap_or(u32::MAX).max(1),
            kept_instances: 32,
            cache_dir: None,
        }
    }
}

impl RuntimeConfig {
    /// The conventional cache directory for a server: `$XDG_CACHE_HOME/hookgate`, else
    /// `$HOME/.cache/hookgate`; `None` when neither variable holds an absolute path.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .filter(|dir| dir.is_absolute())?;
        Some(base.join("hookgate"))
    }
}

/// Use of the on-disk cache of compiled modules since the runtime started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// The cache directory (canonical).
    pub dir: PathBuf,
    /// Compilations answered from the cache.
    pub hits: usize,
    /// Compilations that ran and were stored in the cache.
    pub misses: usize,
}

/// The engine all policies of the process share. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    compiled: Mutex<HashMap<[u8; 32], Weak<crate::policy::Compiled>>>,
    /// The most recently compiled modules, kept alive so that a reload back to a recent
    /// version (a rollback, two versions alternating) skips compilation.
    recent: Mutex<std::collections::VecDeque<Arc<crate::policy::Compiled>>>,
    pub(crate) permits: Semaphore,
    pub(crate) long_lane: Arc<Semaphore>,
    /// The runtime-wide budget of instances kept by `reuse` policies
    /// ([`RuntimeConfig::kept_instances`]): one permit per kept instance.
    pub(crate) kept: Arc<Semaphore>,
    /// Instances one `reuse` policy keeps at most: one per CPU, as many as can run at once.
    pub(crate) kept_per_policy: usize,
    /// The size of the `kept` budget.
    kept_budget: usize,
    /// What the `reuse` policies did with their instances.
    pub(crate) reuse_counters: Arc<ReuseCounters>,
    disk_cache: Option<Cache>,
    /// Held while a module compiles: one compilation at a time, whatever the number of
    /// tenants reloading, so compiles never crowd out hook serving.
    compiling: Mutex<()>,
    /// The threads a compilation runs on (wasmtime compiles functions in parallel on the rayon
    /// pool it is called from): as many as the long lane has permits, half the cores, so a
    /// compiling reload leaves the other half to hooks.
    compile_pool: rayon::ThreadPool,
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker (a thread that ends with the runtime).
    ///
    /// Fails if the engine cannot be built, or the cache directory cannot be created or is not
    /// private to hookgate's user ([`CacheDirError`](crate::CacheDirError)).
    pub fn new(config: RuntimeConfig) -> Result<Runtime, wasmtime::Error> {
        let slots = config.max_concurrent.max(1);
        let kept = config.kept_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots.saturating_add(kept))
            // Rust and C components use 1–3 core instances; Python and QuickJS up to ~40.
            .total_core_instances(
                slots.saturating_mul(16).saturating_add(kept.saturating_mul(CORE_INSTANCES_PER_COMPONENT)),
            )
            .total_memories(slots.saturating_mul(2).saturating_add(kept.saturating_mul(MEMORIES_PER_COMPONENT)))
            .total_tables(slots.saturating_mul(4).saturating_add(kept.saturating_mul(TABLES_PER_COMPONENT)))
            // A store keeps the fiber stack of its last async call: a kept instance holds one.
            .total_stacks(slots.saturating_add(kept))
            .max_memory_size(usize::try_from(config.max_memory_mb << 20)?)
            .table_elements(TABLE_ELEMENTS as usize)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_unused_warm_slots(slots)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 16)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.allocation_strategy(pool).epoch_interruption(true).parallel_compilation(true);
        let disk_cache = match &config.cache_dir {
            Some(dir) => {
                crate::cache_dir::ensure_private(dir)
                    .with_context(|| format!("refusing {} as the compiled-module cache", dir.display()))?;
                let mut cache = CacheConfig::new();
                // wasmtime recompresses an entry at zstd level 20 after 256 uses, in the
                // background: minutes of CPU for a 40 MB Python artifact, taken from hooks.
                cache.with_directory(dir).with_optimized_compression_usage_counter_threshold(u64::MAX);
                let cache = Cache::new(cache)
                    .with_context(|| format!("cannot use {} as the compiled-module cache", dir.display()))?;
                wasm.cache(Some(cache.clone()));
                Some(cache)
            }
            None => None,
        };
        let engine = Engine::new(&wasm)?;

        let mut linker = Linker::new(&engine);
        // Links `host` (log), the types-only `types` instance every wit-bindgen guest imports,
        // and the capabilities (checked against the manifest's grants at load and at each call).
        CapablePolicy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;

        let compile_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.long_lanes.max(1) as usize)
            .thread_name(|index| format!("hookgate-compile-{index}"))
            .build()?;
        let inner = Arc::new(Inner {
            compile_pool,
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT)),
            permits: Semaphore::new(slots as usize),
            long_lane: Arc::new(Semaphore::new(config.long_lanes.max(1) as usize)),
            kept: Arc::new(Semaphore::new(kept as usize)),
            kept_per_policy: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            kept_budget: kept as usize,
            reuse_counters: Arc::default(),
            disk_cache,
            compiling: Mutex::new(()),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new().name("hookgate-epoch".into()).spawn(move || {
            while let Some(inner) = weak.upgrade() {
                inner.engine.increment_epoch();
                drop(inner);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;

        Ok(Runtime { inner })
    }

    /// Compiles (or finds already compiled) a policy component and pre-instantiates it.
    ///
    /// Modules are keyed by the sha256 of their bytes: the same module loaded by several
    /// tenants or generations is compiled once and shared while any of them holds it (and
    /// the last 16 compiled stay alive for fast rollbacks). With a disk cache, a module
    /// compiled by an earlier process is loaded from it.
    ///
    /// Compiling blocks for milliseconds (Rust, C) to seconds (Python, JavaScript, without
    /// the disk cache) and uses every core: call it off the async workers
    /// (`tokio::task::spawn_blocking`).
    pub fn compile(&self, bytes: &[u8]) -> Result<Policy, LoadError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let cached = self.lock_cache().get(&digest).and_then(Weak::upgrade);
        let compiled = match cached {
            Some(compiled) => compiled,
            None => {
                let one_at_a_time = self.inner.compiling.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let started = Instant::now();
                let component = self
                    .inner
                    .compile_pool
                    .install(|| Component::new(&self.inner.engine, bytes))
                    .map_err(LoadError::Compile)?;
                drop(one_at_a_time);
                tracing::debug!(digest = %hex::encode(digest), bytes = bytes.len(), elapsed = ?started.elapsed(),
                    "policy module compiled (or loaded from the disk cache)");
                let pre = self.inner.linker.instantiate_pre(&component).map_err(LoadError::Link)?;
                let pre = CapablePolicyPre::new(pre).map_err(LoadError::Link)?;
                let compiled = Arc::new(crate::policy::Compiled { digest: hex::encode(digest), pre });
                let mut cache = self.lock_cache();
                cache.retain(|_, weak| weak.strong_count() > 0);
                cache.insert(digest, Arc::downgrade(&compiled));
                drop(cache);
                let mut recent = self.inner.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(Arc::clone(&compiled));
                compiled
            }
        };
        Ok(Policy::new(compiled, Arc::clone(&self.inner)))
    }

    /// [`Runtime::compile`] for a module a tenant supplied: refused before anything is compiled
    /// unless it is a WebAssembly binary (text would be parsed by wasmtime's `wat` support and
    /// quoted in its errors) that defines at most `max_functions` functions over all its core
    /// modules.
    pub fn compile_bounded(&self, bytes: &[u8], max_functions: u32) -> Result<Policy, LoadError> {
        check_module(bytes, max_functions)?;
        self.compile(bytes)
    }

    /// Hits and misses of the disk cache; `None` without one.
    pub fn disk_cache(&self) -> Option<DiskCacheStats> {
        self.inner.disk_cache.as_ref().map(|cache| DiskCacheStats {
            dir: cache.directory().clone(),
            hits: cache.cache_hits(),
            misses: cache.cache_misses(),
        })
    }

    /// What the `reuse` policies did with their instances since the runtime started.
    pub fn reuse_stats(&self) -> ReuseStats {
        let kept = self.inner.kept_budget.saturating_sub(self.inner.kept.available_permits());
        self.inner.reuse_counters.snapshot(kept)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Weak<crate::policy::Compiled>>> {
        // The cache holds only weak handles; a panic while holding it cannot leave it inconsistent.
        self.inner.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Refuses what is not a WebAssembly binary, and a binary defining more than `max_functions`
/// functions over all its core modules (nested ones included), without compiling anything.
fn check_module(bytes: &[u8], max_functions: u32) -> Result<(), LoadError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    let mut functions: u64 = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|err| LoadError::Malformed(err.message().to_owned(), err.offset()))?;
        if let wasmparser::Payload::FunctionSection(section) = payload {
            functions += u64::from(section.count());
            if functions > u64::from(max_functions) {
                return Err(LoadError::TooManyFunctions { max: max_functions });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_module;
    use crate::LoadError;

    /// A component of two core modules of `each` functions.
    fn component(each: usize) -> Vec<u8> {
        let functions = "(func)".repeat(each);
        wat::parse_str(format!("(component (core module {functions}) (core module {functions}))")).expect("valid WAT")
    }

    #[test]
    fn only_binaries_within_the_function_bound_reach_the_compiler() {
        assert!(matches!(check_module(b"(component) ;; secret", 10), Err(LoadError::NotWasm)));
        assert!(check_module(&component(5), 10).is_ok(), "10 functions are within a bound of 10");
        let err = check_module(&component(6), 10).expect_err("nested modules add up to 12");
        assert_eq!(
            err.to_string(),
            "the module defines more than 10 functions ([tenants] max_functions in hookgate.toml)"
        );
        let truncated = &component(5)[..12];
        let err = check_module(truncated, 10).expect_err("truncated");
        assert!(matches!(err, LoadError::Malformed(..)), "{err}");
        assert!(err.to_string().starts_with("not a valid WebAssembly binary: "), "{err}");
    }
}
