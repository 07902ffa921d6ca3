//! Warm instances of a policy in `reuse` mode, kept between its evaluations.
//!
//! A fresh instance per evaluation costs what instantiating and a first call cost: ~6–8 µs
//! for a Rust or C component, but ~0.45 ms for a JavaScript one and ~1.2 ms for a Python one
//! (Python's dynamic linking creates thousands of funcrefs per instance; both touch megabytes
//! of snapshot pages on their first call). A policy
//! declared with `reuse = true` keeps up to one instance per CPU instead: an evaluation takes
//! one (exclusively, for its whole duration) or instantiates a new one, and gives it back
//! only if everything went right.
//!
//! What is kept and what is not:
//! - **Reset for every evaluation:** the host side of the store (grants, the hook's state
//!   digest and update counter, queued effects, log counters and tags, the memory flag), the
//!   deadline and its long-lane turn. Nothing a hook was granted outlives its evaluation.
//! - **Kept:** the guest's own globals and linear memory. A policy can see what earlier
//!   evaluations *of the same policy of the same tenant* left there (caches, counters, a
//!   previous payload). Policies are never shared across tenants or policy names, and a new
//!   generation (a reload, a hot swap) starts with new instances.
//! - **Discarded, never reused:** an instance whose evaluation failed in any way (trap,
//!   deadline, memory or log limit, an error or invalid verdict, a refused settings check),
//!   or that was cancelled mid-call; and every instance after [`REUSE_EVALUATIONS`]
//!   evaluations, so that whatever a policy accumulates has a bounded lifetime.
//!
//! Kept instances count against the runtime-wide budget [`RuntimeConfig::kept_instances`]
//! (the pooling allocator is sized with that many extra slots, so they never starve fresh
//! instances); past the budget an instance is simply dropped after its evaluation.
//!
//! [`RuntimeConfig::kept_instances`]: crate::RuntimeConfig::kept_instances

use crate::bindings::CapablePolicy;
use crate::capabilities::Grants;
use crate::host::HostState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;

/// Evaluations one kept instance serves before it is dropped and replaced by a fresh one.
/// Costs one instantiation per this many evaluations (~1.4 µs each for Python).
pub const REUSE_EVALUATIONS: u32 = 1_000;

/// What the `reuse` policies of a runtime did with their instances since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Instances kept now, of the runtime-wide budget.
    pub kept: usize,
    /// Evaluations that ran in a kept instance.
    pub reused: u64,
    /// Instances retired after [`REUSE_EVALUATIONS`] evaluations.
    pub retired: u64,
    /// Instances discarded because their evaluation failed.
    pub discarded: u64,
    /// Instances dropped after a good evaluation because the policy or the runtime kept
    /// enough already.
    pub unkept: u64,
}

/// The runtime-wide counters behind [`ReuseStats`].
#[derive(Debug, Default)]
pub(crate) struct ReuseCounters {
    reused: AtomicU64,
    retired: AtomicU64,
    discarded: AtomicU64,
    unkept: AtomicU64,
}

impl ReuseCounters {
    /// The counters, with `kept` instances kept now.
    pub(crate) fn snapshot(&self, kept: usize) -> ReuseStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ReuseStats {
            kept,
            reused: read(&self.reused),
            retired: read(&self.retired),
            discarded: read(&self.discarded),
            unkept: read(&self.unkept),
        }
    }
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A store and, once instantiated, the policy's exports in it.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    /// `None` until instantiated; always `Some` while kept.
    pub(crate) world: Option<CapablePolicy>,
    /// Evaluations it has served.
    evaluations: u32,
    /// Its place in the runtime-wide budget, taken when it was first kept.
    kept: Option<OwnedSemaphorePermit>,
}

impl Instance {
    /// A store with nothing instantiated in it yet.
    pub(crate) fn new(store: Store<HostState>) -> Instance {
        Instance { store, world: None, evaluations: 0, kept: None }
    }
}

/// The instances one policy keeps.
pub(crate) struct Reuse {
    idle: Mutex<Vec<Instance>>,
    per_policy: usize,
    budget: Arc<Semaphore>,
    counters: Arc<ReuseCounters>,
}

impl Reuse {
    /// An empty set that keeps at most `per_policy` instances, each taking a permit of `budget`,
    /// and counts what it does in `counters`.
    pub(crate) fn new(per_policy: usize, budget: Arc<Semaphore>, counters: Arc<ReuseCounters>) -> Reuse {
        Reuse { idle: Mutex::new(Vec::new()), per_policy, budget, counters }
    }

    /// The most recently used instance (its pages are the warmest), if one is kept.
    pub(crate) fn take(&self) -> Option<Instance> {
        let kept = self.lock().pop();
        if kept.is_some() {
            count(&self.counters.reused);
        }
        kept
    }

    /// Counts an instance dropped because its evaluation failed.
    pub(crate) fn discard(&self) {
        count(&self.counters.discarded);
    }

    /// Keeps an instantiated instance whose evaluation went right, unless it is due for retirement or the
    /// policy or the runtime keeps enough already (then it is dropped).
    pub(crate) fn give_back(&self, mut warm: Instance) {
        warm.evaluations += 1;
        if warm.evaluations >= REUSE_EVALUATIONS {
            count(&self.counters.retired);
            return;
        }
        // Nothing of the last hook stays reachable while the instance waits.
        warm.store.data_mut().grants = Grants::default();
        let mut idle = self.lock();
        if idle.len() >= self.per_policy {
            count(&self.counters.unkept);
            return;
        }
        if warm.kept.is_none() {
            match Arc::clone(&self.budget).try_acquire_owned() {
                Ok(permit) => warm.kept = Some(permit),
                Err(_) => {
                    count(&self.counters.unkept);
                    return;
                }
            }
        }
        idle.push(warm);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        // Pushing and popping cannot leave the list inconsistent if a holder panicked.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
