use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hookgate_state::{MemoryState, MemoryStateConfig, OpId, Scope};

/// The tenant's own scope.
pub(crate) const T: Scope = Scope::Tenant;

/// A store with the default config.
pub(crate) fn store() -> Arc<MemoryState> {
    MemoryState::new(MemoryStateConfig::default())
}

/// The `OpId` of update `seq` of hook delivery `hook`.
pub(crate) fn op(hook: u64, seq: u32) -> OpId {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&hook.to_le_bytes());
    OpId { hook: digest, seq }
}

/// An `OpId` no other call has used: a fresh hook delivery.
pub(crate) fn fresh() -> OpId {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
    op(NEXT.fetch_add(1, Ordering::Relaxed), 0)
}

/// A session scope.
pub(crate) fn session(id: &str) -> Scope {
    Scope::Session(id.to_owned())
}
