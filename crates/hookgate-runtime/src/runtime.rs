//! The process-wide engine, its epoch ticker and the compile cache.

use crate::bindings::{CapablePolicy, CapablePolicyPre};
use crate::errors::LoadError;
use crate::host::HostState;
use crate::policy::Policy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, PoolingAllocationConfig};

/// Table elements a guest may have at most (RUNTIME-NOTES §5.3: SpiderMonkey needs ≥ 10,000);
/// per-tenant caps sit below it.
pub(crate) const TABLE_ELEMENTS: u32 = 20_000;
/// Compiled modules kept alive after their last user is gone.
const RECENT: usize = 16;
/// How often the epoch advances: how long a long evaluation runs before it yields its worker,
/// and the granularity of deadlines. 100 µs cost 20 % of hook throughput (10,000 wake-ups a
/// second on two cores); the long lane (`schedule`) protects short evaluations instead.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Sizing of the sandbox.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeConfig {
    /// Evaluations that may run at once (each holds one pooled instance while it runs).
    pub max_concurrent: u32,
    /// Hard ceiling of any policy's linear memory, in MiB; per-tenant caps sit below it.
    pub max_memory_mb: u64,
    /// Evaluations running for longer than half a millisecond that may run at once (the long
    /// lane); the other workers stay free for short evaluations.
    pub long_lanes: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        RuntimeConfig {
            max_concurrent: 256,
            max_memory_mb: 256,
            long_lanes: u32::try_from(workers / 2).unwrap_or(u32::MAX).max(1),
        }
    }
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
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker (a thread that ends with the runtime).
    pub fn new(config: RuntimeConfig) -> Result<Runtime, wasmtime::Error> {
        let slots = config.max_concurrent.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            // Rust and C components use 1–3 core instances; Python and QuickJS up to ~40.
            .total_core_instances(slots.saturating_mul(16))
            .total_memories(slots.saturating_mul(2))
            .total_tables(slots.saturating_mul(4))
            .total_stacks(slots)
            .max_memory_size(usize::try_from(config.max_memory_mb << 20)?)
            .table_elements(TABLE_ELEMENTS as usize)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(64)
            .max_unused_warm_slots(slots)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 16)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.allocation_strategy(pool).epoch_interruption(true).parallel_compilation(true);
        let engine = Engine::new(&wasm)?;

        let mut linker = Linker::new(&engine);
        // Links `host` (log), the types-only `types` instance every wit-bindgen guest imports,
        // and the capabilities (checked against the manifest's grants at load and at each call).
        CapablePolicy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;

        let inner = Arc::new(Inner {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT)),
            permits: Semaphore::new(slots as usize),
            long_lane: Arc::new(Semaphore::new(config.long_lanes.max(1) as usize)),
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
    /// the last 16 compiled stay alive for fast rollbacks).
    pub fn compile(&self, bytes: &[u8]) -> Result<Policy, LoadError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let cached = self.lock_cache().get(&digest).and_then(Weak::upgrade);
        let compiled = match cached {
            Some(compiled) => compiled,
            None => {
                let component = Component::new(&self.inner.engine, bytes).map_err(LoadError::Compile)?;
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

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Weak<crate::policy::Compiled>>> {
        // The cache holds only weak handles; a panic while holding it cannot leave it inconsistent.
        self.inner.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
