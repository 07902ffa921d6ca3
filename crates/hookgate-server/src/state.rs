//! What every request handler shares.

use crate::decision_log::DecisionLog;
use crate::effects::Effects;
use crate::metrics::Metrics;
use hookgate_engine::Services;
use hookgate_registry::Registry;
use std::sync::Arc;

/// Shared state of the listeners. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The live tenants and their reload status.
    pub policies: Arc<Registry>,
    /// Largest accepted body, in bytes.
    pub body_limit: usize,
    /// Prometheus metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The decision log, when enabled.
    pub(crate) decisions: Option<DecisionLog>,
    /// What the policies' capabilities reach.
    pub(crate) services: Services,
    /// What happens once a hook is answered.
    pub(crate) effects: Arc<Effects>,
}

impl AppState {
    /// State serving the registry's tenants, accepting bodies up to `body_limit` bytes.
    pub fn new(
        policies: Arc<Registry>,
        body_limit: usize,
        decisions: Option<DecisionLog>,
        services: Services,
        effects: Arc<Effects>,
    ) -> AppState {
        let metrics = Arc::new(Metrics::new(Arc::clone(&effects), policies.runtime().clone()));
        AppState { policies, body_limit, metrics, decisions, services, effects }
    }
}
