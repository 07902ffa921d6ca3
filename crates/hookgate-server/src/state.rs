//! What every request handler shares.

use arc_swap::ArcSwap;
use hookgate_engine::TenantSet;
use std::sync::Arc;

/// Shared state of the hook listener. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The tenants currently serving; swapped as a whole, read without locks.
    pub tenants: Arc<ArcSwap<TenantSet>>,
    /// Largest accepted body, in bytes.
    pub body_limit: usize,
}

impl AppState {
    /// State serving `tenants`, accepting bodies up to `body_limit` bytes.
    pub fn new(tenants: TenantSet, body_limit: usize) -> AppState {
        AppState { tenants: Arc::new(ArcSwap::from_pointee(tenants)), body_limit }
    }
}
