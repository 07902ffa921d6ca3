//! The policy sandbox: the only crate of hookgate that touches wasmtime.
//!
//! It narrows wasmtime to what hookgate promises (docs/design/isolation.md):
//!
//! - One [`Runtime`] per process: a wasmtime engine with the pooling allocator (copy-on-write
//!   memory images, `keep_resident` resets, `pagemap_scan`), epoch interruption driven by a
//!   1 ms ticker thread, and the default 4 GiB reservation (smaller ones add bounds checks).
//! - [`Runtime::compile`] compiles a component once per sha256 digest (in memory; and on disk,
//!   across restarts, when [`RuntimeConfig::cache_dir`] is set: wasmtime's own `cache`
//!   feature, so no `unsafe` deserialization here) and pre-instantiates it ([`Policy`]); the
//!   linker holds the `host` interface (`log`) and the capabilities a manifest may grant (`state`, `notify`, `send-data`; [`Policy::capabilities`] tells which a
//!   module imports). A module importing anything else is refused at load, with the import
//!   named.
//! - [`Policy::evaluate`] gives **every evaluation a fresh instance**: nothing survives between
//!   hooks. The instance runs under a memory cap (a store limiter) and a deadline counted in
//!   running time.
//! - The exception is opt-in, per policy: in `reuse` mode ([`Policy::reusing`], `reuse = true`
//!   in `tenant.toml`) an evaluation runs in a warm instance kept from an earlier evaluation
//!   of the same policy of the same tenant, under the same limits and with host state and
//!   grants reset; the guest's globals and memory persist, failed instances are dropped, and
//!   each is retired after [`REUSE_EVALUATIONS`]. It makes JavaScript policies ~5× and Python
//!   policies ~40× faster (the rules and their cost: the `reuse` module).
//!
//! Guest code runs through wasmtime's async API on the caller's tokio task, so no thread hop
//! (`spawn_blocking`) is paid on the hot path. An evaluation that runs past half a millisecond
//! becomes long: it yields its worker (`tokio::task::yield_now`, to the back of the run queue)
//! at every 1 ms tick and runs only while it holds a permit of the *long lane*, which has half
//! as many permits as there are cores. A spinning policy thus never holds more than its share
//! of the lane, and the other workers stay free for every tenant's short evaluations
//! (`schedule`). A semaphore sized to the instance pool bounds how many evaluations run at once.

mod bindings;
mod cache_dir;
mod capabilities;
mod errors;
mod host;
mod log_budget;
mod policy;
mod reuse;
mod runtime;
mod schedule;

pub use cache_dir::CacheDirError;
pub use capabilities::{Grants, StateAccess};
pub use errors::{Failure, LoadError};
pub use hookgate_protocol::Effect;
pub use hookgate_state::StateBackend;
pub use log_budget::LogBudget;
pub use policy::{
    EvalLimits, HookInput, MAX_LOGGED_METHOD, MAX_POLICY_TEXT, MethodKind, Policy, Verdict, bounded_text,
};
pub use reuse::{REUSE_EVALUATIONS, ReuseStats};
pub use runtime::{DiskCacheStats, Runtime, RuntimeConfig};
