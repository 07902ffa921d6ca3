//! Hot reload of the policy tree: the only crate that touches `notify`.
//!
//! The watcher only signals. Each tenant folder has one reload task that debounces the
//! signals (editors and `cp` write in several steps), then builds the tenant's **next
//! generation** off the request path: parse the manifest, compile changed modules (reusing
//! compiled ones by digest), validate settings, instantiate-check, and run the tenant's
//! `tests/*.json` cases. Only a generation that passes all of that replaces the live one, with
//! one atomic swap of the tenant set; in-flight hooks finish on the generation they started
//! with. A failed build leaves the last good generation serving and is recorded in the
//! tenant's [`TenantStatus`]. A removed folder removes the tenant.

mod registry;
mod status;
mod watch;

pub use registry::Registry;
pub use status::{PolicyStatus, ReloadOutcome, TenantStatus};
