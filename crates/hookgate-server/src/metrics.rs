//! Prometheus metrics (`GET /metrics` on the admin listener), in the text exposition format.

use hookgate_engine::{Cause, Decision, RunOutcome};
use hookgate_registry::Registry as PolicyRegistry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::effects::Effects;
use crate::service_metrics::ServiceCollector;
use hookgate_runtime::Runtime;
use hookgate_state::BackendHealth;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    tenant: String,
    method: String,
    verdict: String,
    fallback: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    tenant: String,
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    tenant: String,
    policy: String,
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    tenant: String,
    outcome: String,
}

/// The series one answered hook updates, by what labels them: `tenant`, the canonical method
/// (or `other`), the verdict and the fallback cause.
#[derive(Hash, PartialEq, Eq)]
struct HookKey {
    tenant: String,
    method: &'static str,
    verdict: &'static str,
    fallback: &'static str,
}

/// A [`HookKey`] borrowed from a decision: looked up without building the label strings.
#[derive(Hash)]
struct HookKeyRef<'a> {
    tenant: &'a str,
    method: &'static str,
    verdict: &'static str,
    fallback: &'static str,
}

impl hashbrown::Equivalent<HookKey> for HookKeyRef<'_> {
    fn equivalent(&self, key: &HookKey) -> bool {
        (self.tenant, self.method, self.verdict, self.fallback)
            == (key.tenant.as_str(), key.method, key.verdict, key.fallback)
    }
}

/// The series of one policy of one tenant, borrowed for a lookup.
#[derive(Hash)]
struct PolicyKeyRef<'a> {
    tenant: &'a str,
    policy: &'a str,
}

impl hashbrown::Equivalent<(String, String)> for PolicyKeyRef<'_> {
    fn equivalent(&self, (tenant, policy): &(String, String)) -> bool {
        (self.tenant, self.policy) == (tenant.as_str(), policy.as_str())
    }
}

/// Handles of the series a hook updates, found in their families once: a `Family` lookup
/// builds owned label strings and hashes them with SipHash, on every hook.
#[derive(Default)]
struct Handles {
    hooks: RwLock<hashbrown::HashMap<HookKey, (Counter, Histogram)>>,
    evaluations: RwLock<hashbrown::HashMap<(String, String), Histogram>>,
}

/// Every metric hookgate exports.
pub(crate) struct Metrics {
    registry: Registry,
    hooks: Family<HookLabels, Counter>,
    hook_seconds: Family<TenantLabels, Histogram, fn() -> Histogram>,
    evaluation_seconds: Family<PolicyLabels, Histogram, fn() -> Histogram>,
    failures: Family<FailureLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    generation: Family<TenantLabels, Gauge>,
    /// Reload counts already exported, per tenant, to turn the registry's totals into increments.
    seen_reloads: Mutex<HashMap<String, (u64, u64)>>,
    /// Decision-log lines dropped because the writer fell behind.
    pub(crate) decision_log_dropped: Counter,
    /// `send-data` messages dropped because their session did not connect under the tenant.
    foreign_send_data: Counter,
    /// Connections turned away at a listener's cap, by listener.
    connections_refused: Family<ListenerLabels, Counter>,
    /// The shared state backend's health at the last scrape (in a fleet only).
    state_health: Arc<Mutex<Option<BackendHealth>>>,
    /// Series handles of the hook path, by their labels.
    handles: Handles,
}

/// Reads `lock`, whether or not a writer panicked (the maps only ever gain entries).
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes `lock`, whether or not a writer panicked.
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn latency_histogram() -> Histogram {
    // 10 µs … ~5 s.
    Histogram::new(exponential_buckets(0.000_01, 2.5, 15))
}

impl Metrics {
    /// Every metric, with the counters of `effects` and `runtime` read at each scrape.
    pub(crate) fn new(effects: Arc<Effects>, runtime: Runtime) -> Self {
        let mut registry = Registry::with_prefix("hookgate");
        let state_health = Arc::new(Mutex::new(None));
        registry.register_collector(Box::new(ServiceCollector::new(effects, runtime, Arc::clone(&state_health))));
        let hooks = Family::<HookLabels, Counter>::default();
        registry.register("hooks", "Hooks answered, by tenant, method, verdict and fallback cause", hooks.clone());
        let hook_seconds: Family<TenantLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register("hook_duration_seconds", "End-to-end time to answer a hook", hook_seconds.clone());
        let evaluation_seconds: Family<PolicyLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "evaluation_duration_seconds",
            "Time of one policy evaluation (fresh instance included)",
            evaluation_seconds.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register("policy_failures", "Policy failures by cause", failures.clone());
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register("reloads", "Tenant builds, by outcome (ok = went live)", reloads.clone());
        let generation = Family::<TenantLabels, Gauge>::default();
        registry.register("generation", "The live generation of each tenant", generation.clone());
        let decision_log_dropped = Counter::default();
        registry.register(
            "decision_log_dropped",
            "Decision-log lines dropped because the writer fell behind",
            decision_log_dropped.clone(),
        );
        let foreign_send_data = Counter::default();
        registry.register(
            "send_data_foreign_session",
            "send-data messages dropped because their session did not connect under the sending tenant",
            foreign_send_data.clone(),
        );
        let connections_refused = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections answered 503 and closed because the listener was at max_connections",
            connections_refused.clone(),
        );
        Metrics {
            connections_refused,
            registry,
            foreign_send_data,
            hooks,
            hook_seconds,
            evaluation_seconds,
            failures,
            reloads,
            generation,
            seen_reloads: Mutex::new(HashMap::new()),
            decision_log_dropped,
            state_health,
            handles: Handles::default(),
        }
    }

    /// Records one answered hook. `method` is the canonical name, or `other` for methods
    /// outside the catalogue (so a client cannot create label values at will).
    pub(crate) fn record(&self, decision: &Decision, method: &'static str, seconds: f64) {
        let tenant = if decision.tenant.is_empty() { "none" } else { decision.tenant.as_str() };
        let key = HookKeyRef {
            tenant,
            method,
            verdict: decision.outcome().as_str(),
            fallback: decision.fallback.map_or("", Cause::as_str),
        };
        let found = read(&self.handles.hooks).get(&key).map(|(hooks, seconds)| (hooks.clone(), seconds.clone()));
        let (hooks, hook_seconds) = found.unwrap_or_else(|| {
            let labels = HookLabels {
                tenant: tenant.to_owned(),
                method: method.to_owned(),
                verdict: key.verdict.to_owned(),
                fallback: key.fallback.to_owned(),
            };
            let handles = (
                self.hooks.get_or_create(&labels).clone(),
                self.hook_seconds.get_or_create(&TenantLabels { tenant: tenant.to_owned() }).clone(),
            );
            let owned = HookKey { tenant: tenant.to_owned(), method, verdict: key.verdict, fallback: key.fallback };
            write(&self.handles.hooks).entry(owned).or_insert(handles).clone()
        });
        hooks.inc();
        hook_seconds.observe(seconds);
        self.foreign_send_data.inc_by(decision.dropped_send_data.into());
        for run in &decision.runs {
            let key = PolicyKeyRef { tenant, policy: &run.policy };
            let found = read(&self.handles.evaluations).get(&key).cloned();
            let evaluation_seconds = found.unwrap_or_else(|| {
                let labels = PolicyLabels { tenant: tenant.to_owned(), policy: run.policy.clone() };
                let handle = self.evaluation_seconds.get_or_create(&labels).clone();
                write(&self.handles.evaluations).entry((labels.tenant, labels.policy)).or_insert(handle).clone()
            });
            evaluation_seconds.observe(run.micros as f64 / 1e6);
            if let RunOutcome::Failed(cause) = run.outcome {
                let cause = FailureLabels {
                    tenant: tenant.to_owned(),
                    policy: run.policy.clone(),
                    cause: cause.as_str().to_owned(),
                };
                self.failures.get_or_create(&cause).inc();
            }
        }
    }

    /// The counter of connections refused at `listener`'s cap (shown at 0 from the start).
    pub(crate) fn connections_refused(&self, listener: &str) -> Counter {
        self.connections_refused.get_or_create(&ListenerLabels { listener: listener.to_owned() }).clone()
    }

    /// The text exposition, with the reload figures of `policies` brought up to date and, in
    /// a fleet, the shared state backend's `health` as just probed.
    pub(crate) fn render(&self, policies: &PolicyRegistry, health: Option<BackendHealth>) -> String {
        *self.state_health.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = health;
        {
            let mut seen = self.seen_reloads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for status in policies.statuses() {
                let (ok, failed) = seen.entry(status.tenant.clone()).or_insert((0, 0));
                let label = |outcome: &str| ReloadLabels { tenant: status.tenant.clone(), outcome: outcome.to_owned() };
                self.reloads.get_or_create(&label("ok")).inc_by(status.reloads_ok.saturating_sub(*ok));
                self.reloads.get_or_create(&label("failed")).inc_by(status.reloads_failed.saturating_sub(*failed));
                (*ok, *failed) = (status.reloads_ok, status.reloads_failed);
                let generation = i64::try_from(status.generation).unwrap_or(i64::MAX);
                self.generation.get_or_create(&TenantLabels { tenant: status.tenant.clone() }).set(generation);
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
