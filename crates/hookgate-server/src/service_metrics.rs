//! Metrics read from the services behind the hooks at each scrape: the policy runtime (kept
//! instances, the compiled-module cache), the WebSocket event hub, the `send-data` outbox and,
//! in a fleet, the Redis event bus and state backend. Their counters live in those crates;
//! this collector only exports them, so there is no second copy to keep in step.

use crate::effects::Effects;
use hookgate_runtime::Runtime;
use hookgate_state::BackendHealth;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// Exports [`hookgate_runtime::ReuseStats`], [`hookgate_runtime::DiskCacheStats`],
/// [`hookgate_events::HubStats`], [`hookgate_outbox::OutboxStats`] and, in a fleet,
/// [`hookgate_events::BusStats`] and the state backend's [`BackendHealth`] on each scrape.
pub(crate) struct ServiceCollector {
    effects: Arc<Effects>,
    runtime: Runtime,
    /// The state backend's health, probed (asynchronously) by the scrape before it encodes.
    state_health: Arc<Mutex<Option<BackendHealth>>>,
}

impl ServiceCollector {
    /// A collector of `effects`' and `runtime`'s counters and of the health stored in
    /// `state_health`.
    pub(crate) fn new(
        effects: Arc<Effects>,
        runtime: Runtime,
        state_health: Arc<Mutex<Option<BackendHealth>>>,
    ) -> ServiceCollector {
        ServiceCollector { effects, runtime, state_health }
    }
}

impl fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceCollector")
    }
}

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let reuse = self.runtime.reuse_stats();
        gauge(e, "policy_instances_kept", "Warm instances kept now by reuse policies", reuse.kept)?;
        counter(e, "policy_instances_reused", "Evaluations that ran in a kept instance", reuse.reused)?;
        counter(e, "policy_instances_retired", "Kept instances retired after their evaluations", reuse.retired)?;
        counter(
            e,
            "policy_instances_discarded",
            "Instances of reuse policies dropped after a failure",
            reuse.discarded,
        )?;
        counter(e, "policy_instances_unkept", "Good instances not kept: policy or runtime budget full", reuse.unkept)?;
        if let Some(cache) = self.runtime.disk_cache() {
            counter(e, "compile_cache_hits", "Modules loaded compiled from the disk cache", cache.hits as u64)?;
            counter(e, "compile_cache_misses", "Modules compiled and stored in the disk cache", cache.misses as u64)?;
        }
        let hub = self.effects.hub.stats();
        gauge(e, "events_connections", "WebSocket event-service connections open now", hub.connections)?;
        gauge(e, "events_subscriptions", "Event subscriptions attached now", hub.subscriptions)?;
        counter(e, "events_published", "Events published (hooks and notifications)", hub.published)?;
        counter(e, "events_delivered", "Event messages queued to subscribers", hub.delivered)?;
        counter(e, "events_dropped", "Events dropped because the fan-out fell behind", hub.dropped)?;
        counter(e, "events_slow_disconnects", "Subscribers disconnected for a full queue", hub.slow_disconnects)?;
        if let Some(data) = &self.effects.data {
            let out = data.stats();
            gauge(e, "send_data_waiting", "send-data messages queued, not yet taken by a sender", out.waiting)?;
            counter(e, "send_data_queued", "send-data messages accepted", out.queued)?;
            counter(e, "send_data_sent", "send-data messages WCS answered with a 2xx", out.sent)?;
            counter(e, "send_data_retried", "send-data attempts after the first", out.retried)?;
            counter(e, "send_data_failed", "send-data messages given up", out.failed)?;
            counter(e, "send_data_dropped", "send-data messages refused or cut off by shutdown", out.dropped)?;
        }
        if let Some(bus) = &self.effects.bus {
            let bus = bus.stats();
            gauge(e, "cluster_events_up", "1 while the Redis event bus is connected", i64::from(bus.connected))?;
            counter(e, "cluster_events_published", "Events this instance published to Redis", bus.published)?;
            counter(e, "cluster_events_received", "Messages received from the Redis channel", bus.received)?;
            counter(e, "cluster_events_dropped", "Events not sent: queue full or Redis down", bus.dropped)?;
            counter(e, "cluster_events_decode_errors", "Channel messages that were not events", bus.decode_errors)?;
            counter(e, "cluster_events_reconnects", "Bus connections re-established", bus.reconnects)?;
        }
        let health = self.state_health.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(health) = health {
            gauge(e, "cluster_state_up", "1 while the Redis state backend answers", i64::from(health.up))?;
            counter(e, "cluster_state_unavailable", "State calls failed as unavailable", health.unavailable)?;
        }
        Ok(())
    }
}

/// Encodes one counter named `name` (the registry adds its prefix and `_total`).
pub(crate) fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Encodes one gauge named `name`.
pub(crate) fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: impl TryInto<i64>) -> fmt::Result {
    let metric = ConstGauge::new(value.try_into().unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}
