//! The sandbox with real policy components (built from `plugins/` on first use).
//!
//! - `reuse`: `reuse` mode keeps globals between evaluations of one policy only, drops an
//!   instance that failed in any way, resets grants per evaluation, obeys the same limits, and
//!   answers the shared stream-guard cases exactly as fresh instances do.
//! - `disk_cache`: a second runtime loads a compiled module from the disk cache, and a
//!   compilation in progress does not hold up evaluations.

mod common;
mod disk_cache;
mod reuse;
