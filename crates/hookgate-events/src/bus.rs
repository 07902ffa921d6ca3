//! [`RedisBus`]: the event stream shared by several hookgate instances over Redis pub/sub
//! (docs/design/fleet.md).
//!
//! Behind a load balancer, a hook reaches one instance while the WebSocket front ends that
//! watch it may be attached to any. Every instance therefore publishes its events to one
//! Redis channel and subscribes to it, and delivers **only what comes back from Redis** to
//! its own connections — its own events included. Each subscriber thus gets each event
//! exactly once, whichever instance it is attached to and whichever published: there is
//! one path to it, not a local one plus a remote one to deduplicate. Tenant isolation is the
//! local hub's: a message carries its appKey and each instance matches it against its own
//! subscriptions, as for a local event.
//!
//! ```text
//!  hook ─▶ EventHub::publish_hook ─try_send─▶ publisher task ─PUBLISH─▶ Redis channel
//!                                                                           │
//!  WebSocket ◀─ fan-out task ◀─ EventHub::deliver_hook ◀─ subscriber task ◀─┘ (every instance)
//! ```
//!
//! **The hook never waits for Redis.** `publish` and `publish_hook` put the event in a
//! bounded queue with `try_send` and return; if the queue is full, the event is dropped and
//! counted ([`BusStats::dropped`]). The publisher task sends what it finds queued as one
//! pipeline of `PUBLISH`es (one round trip for a burst), in order. A hook is sent as its raw
//! body (module `wire`): each receiver does the "is anyone here watching this event type of this
//! tenant" check, and parses the body only if so, as a single instance does.
//!
//! **Redis down.** Each task owns one connection and reconnects by itself, with a backoff
//! from [`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`], and the subscriber resubscribes. Events
//! wait in the queue during a connection attempt (at most [`CONNECT_TIMEOUT`]); between two
//! attempts they are dropped and counted as they arrive, so nothing stale is sent after a
//! reconnect and the hook path keeps its cost. Both tasks ping every [`PING_INTERVAL`], to
//! notice a connection that died silently (or, for an idle publisher, at all).
//!
//! **At most once.** An event that a `PUBLISH` failure may or may not have sent is counted as
//! dropped, never retried (a retry could deliver it twice), and events published while an
//! instance's subscriber is reconnecting never reach that instance's connections. Order is
//! kept per publishing instance (one task, one connection), not across instances.
//!
//! **Ends** when [`RedisBus::stop`] is called, or when either the hub (all its clones) or
//! the [`RedisBus`] is dropped. A hub whose bus has stopped drops (and counts) what it is
//! given: switching back to local delivery would silently split the fleet.
//!
//! The URL's password (and query, which may hold one) never reaches logs or `Debug` output.

pub(crate) mod wire;

use crate::errors::BusError;
use crate::hub::{EventHub, WeakHub};
use futures_util::StreamExt;
use hookgate_config::redact_url;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Client, Msg, RedisError};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wire::{BusEvent, Incoming};

/// The Redis channel when none is configured.
pub const DEFAULT_CHANNEL: &str = "hookgate:events";

/// Events waiting for the publisher task when none is configured, at most.
pub const DEFAULT_QUEUE: usize = 16 * 1024;

/// Events sent in one pipeline, at most.
pub const BATCH: usize = 256;

/// How long connecting (and subscribing) may take before the attempt counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a `PUBLISH` pipeline or a ping may wait for Redis's answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The liveness check: each task pings Redis on its connection at this interval.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// The first wait after a failed connection attempt; it doubles after each further failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);

/// The longest wait between two connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Where and how the bus connects.
#[derive(Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// The Redis URL (`redis://[user:password@]host[:port][/db]`, `unix:///path`).
    pub url: String,
    /// The pub/sub channel every instance of the fleet publishes to and listens on.
    pub channel: String,
    /// Events waiting for the publisher task, at most; past that they are dropped and
    /// counted. A burst larger than this while Redis is slow loses events, not latency.
    pub queue: usize,
    /// For `rediss://`: the PEM of the CA that signed the server's certificate, if not one of
    /// the system's roots.
    pub tls_ca: Option<Vec<u8>>,
}

impl BusConfig {
    /// `url` with the [`DEFAULT_CHANNEL`] and the [`DEFAULT_QUEUE`].
    pub fn new(url: impl Into<String>) -> Self {
        BusConfig { url: url.into(), channel: DEFAULT_CHANNEL.to_owned(), queue: DEFAULT_QUEUE, tls_ca: None }
    }
}

impl fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusConfig")
            .field("url", &redact_url(&self.url))
            .field("channel", &self.channel)
            .field("queue", &self.queue)
            .field("tls_ca", &self.tls_ca.is_some())
            .finish()
    }
}

/// The bus's state and counters, for readiness and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusStats {
    /// Both connections (publishing and subscribed) are up.
    pub connected: bool,
    /// Events Redis accepted from this instance.
    pub published: u64,
    /// Messages received on the channel (from every instance, this one included), whether
    /// they decoded or not.
    pub received: u64,
    /// Events of this instance not sent: the queue was full, Redis was down, or a `PUBLISH`
    /// failed (such an event may have reached some instances).
    pub dropped: u64,
    /// Messages on the channel that are not hookgate events of this format (counted in
    /// `received` too); they are logged and ignored.
    pub decode_errors: u64,
    /// Connections re-established after one was lost (publishing and subscribed alike; the
    /// first connection of each is not counted, however many attempts it took).
    pub reconnects: u64,
}

/// A running bus: two tasks, one publishing this instance's events to Redis, one delivering
/// the channel's messages to this instance's connections (see the module doc). Dropping it
/// stops them, as [`RedisBus::stop`] does without waiting.
#[must_use = "dropping the bus stops it"]
pub struct RedisBus {
    counters: Arc<Counters>,
    _stop: StopOnDrop,
    tasks: [JoinHandle<()>; 2],
}

impl RedisBus {
    /// Routes `hub`'s events through Redis from now on, and delivers the channel's messages
    /// to its connections. Connects in the background: Redis being down is not an error (the
    /// bus connects when it comes up; [`BusStats::connected`] says when); a malformed URL or
    /// configuration, or a hub that already has a bus, is.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the tasks are spawned on the current one).
    pub fn start(hub: &EventHub, config: BusConfig) -> Result<RedisBus, BusError> {
        let BusConfig { url, channel, queue, tls_ca } = config;
        let client = hookgate_redis::redis_client(&url, tls_ca.as_deref())
            .map_err(|source| BusError::Url { url: redact_url(&url), source })?;
        if channel.is_empty() {
            return Err(BusError::Invalid { field: "channel", reason: "must not be empty" });
        }
        if queue == 0 {
            return Err(BusError::Invalid { field: "queue", reason: "must be greater than 0" });
        }
        let (sender, receiver) = mpsc::channel(queue);
        let (stop, stopped) = watch::channel(false);
        let stop = StopOnDrop(Arc::new(stop));
        let counters = Arc::new(Counters::default());
        let link = Link { queue: sender, counters: counters.clone(), _stop: stop.clone() };
        if hub.attach_bus(link).is_err() {
            return Err(BusError::AlreadyAttached);
        }
        let place = Arc::new(Place { client, channel, address: redact_url(&url) });
        tracing::info!(redis = %place.address, channel = %place.channel, "event bus: starting");
        let publisher = until_stopped(stopped.clone(), publish(place.clone(), receiver, counters.clone()));
        let subscriber = until_stopped(stopped, subscribe(place, hub.downgrade(), counters.clone()));
        let tasks = [tokio::spawn(publisher), tokio::spawn(subscriber)];
        Ok(RedisBus { counters, _stop: stop, tasks })
    }

    /// The bus's state and counters now.
    pub fn stats(&self) -> BusStats {
        let counters = &self.counters;
        BusStats {
            connected: counters.publisher_up.load(Ordering::Relaxed) && counters.subscriber_up.load(Ordering::Relaxed),
            published: counters.published.load(Ordering::Relaxed),
            received: counters.received.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            decode_errors: counters.decode_errors.load(Ordering::Relaxed),
            reconnects: counters.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Stops both tasks and returns once they have ended and dropped their connections. The
    /// hub then drops (and counts) what it publishes.
    pub async fn stop(self) {
        let RedisBus { _stop: stop, tasks, .. } = self;
        drop(stop);
        for task in tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "event bus: a task failed");
            }
        }
    }
}

/// The hub's end of the bus.
pub(crate) struct Link {
    queue: mpsc::Sender<BusEvent>,
    counters: Arc<Counters>,
    /// The hub's share of the stop signal: dropping the hub stops the bus.
    _stop: StopOnDrop,
}

impl Link {
    /// Queues `event` for the publisher task, or drops and counts it; never waits.
    pub(crate) fn send(&self, event: BusEvent) {
        if self.queue.try_send(event).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Shared by the hub's [`Link`], the [`RedisBus`] and both tasks.
#[derive(Default)]
struct Counters {
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    decode_errors: AtomicU64,
    reconnects: AtomicU64,
}

/// Where both tasks connect, and how they name it in logs.
struct Place {
    client: Client,
    channel: String,
    /// The URL without password nor query.
    address: String,
}

/// Signals the stop when dropped. The hub's [`Link`] and the [`RedisBus`] each hold one, so
/// the first of them to go stops the tasks.
#[derive(Clone)]
struct StopOnDrop(Arc<watch::Sender<bool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Runs `task` until the stop signal (or until its senders are all gone).
async fn until_stopped(mut stopped: watch::Receiver<bool>, task: impl Future<Output = ()>) {
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => {}
        () = task => {}
    }
}

/// The publisher task: connects, then sends the queue in pipelines; reconnects when the
/// connection fails. Ends when the hub is gone (its queue closed).
async fn publish(place: Arc<Place>, mut queue: mpsc::Receiver<BusEvent>, counters: Arc<Counters>) {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let mut state = ConnectionState::new("publisher", &place.address, &counters.publisher_up, &counters.reconnects);
    let mut batch = Vec::with_capacity(BATCH);
    let mut refusals = 0u64;
    loop {
        // Events wait during an attempt (at most CONNECT_TIMEOUT), and are dropped between two.
        let mut connection = match place.client.get_multiplexed_async_connection_with_config(&config).await {
            Ok(connection) => connection,
            Err(err) => {
                let pause = tokio::time::sleep(state.failed(&err));
                if dropping_meanwhile(&mut queue, &counters, pause).await.is_none() {
                    return;
                }
                continue;
            }
        };
        state.connected();
        let mut ping = liveness();
        let lost = loop {
            tokio::select! {
                received = queue.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        return;
                    }
                    if let Err(err) = send(&mut connection, &place.channel, &mut batch, &counters).await {
                        if connection_lost(&err) {
                            break err;
                        }
                        refusals += 1;
                        if sampled(refusals) {
                            tracing::warn!(error = %err, refusals, "event bus: Redis refused a PUBLISH, events dropped");
                        }
                    }
                }
                _ = ping.tick() => match redis::cmd("PING").exec_async(&mut connection).await {
                    Err(err) if connection_lost(&err) => break err,
                    _ => {}
                },
            }
        };
        state.lost(&lost);
    }
}

/// The interval of the liveness pings, first one after [`PING_INTERVAL`]: they notice a
/// connection that died without a word (and the publisher's one while no event is sent).
fn liveness() -> tokio::time::Interval {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping
}

/// Sends `batch` (emptied) as one pipeline and counts it as published or dropped.
async fn send(
    connection: &mut MultiplexedConnection,
    channel: &str,
    batch: &mut Vec<BusEvent>,
    counters: &Counters,
) -> Result<(), RedisError> {
    let mut pipeline = redis::pipe();
    for event in batch.iter() {
        pipeline.cmd("PUBLISH").arg(channel).arg(wire::encode(event)).ignore();
    }
    let sent = batch.len() as u64;
    batch.clear();
    match pipeline.exec_async(connection).await {
        Ok(()) => {
            counters.published.fetch_add(sent, Ordering::Relaxed);
            Ok(())
        }
        Err(err) => {
            counters.dropped.fetch_add(sent, Ordering::Relaxed);
            Err(err)
        }
    }
}

/// Runs `work` (a pause between two connection attempts) while dropping and counting the
/// events that arrive meanwhile, so that nothing waits for a Redis that is not there. `None`
/// when the hub is gone.
async fn dropping_meanwhile<T>(
    queue: &mut mpsc::Receiver<BusEvent>,
    counters: &Counters,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(work);
    let mut discarded = Vec::new();
    loop {
        tokio::select! {
            biased;
            output = &mut work => return Some(output),
            received = queue.recv_many(&mut discarded, BATCH) => {
                if received == 0 {
                    return None;
                }
                counters.dropped.fetch_add(received as u64, Ordering::Relaxed);
                discarded.clear();
            }
        }
    }
}

/// The subscriber task: subscribes, then delivers every message to the hub; resubscribes
/// on a new connection when that one fails. Ends when the hub is gone.
async fn subscribe(place: Arc<Place>, hub: WeakHub, counters: Arc<Counters>) {
    let mut state = ConnectionState::new("subscriber", &place.address, &counters.subscriber_up, &counters.reconnects);
    loop {
        let (mut sink, mut messages) = match subscribed(&place).await {
            Ok(subscribed) => subscribed,
            Err(err) => {
                tokio::time::sleep(state.failed(&err)).await;
                continue;
            }
        };
        state.connected();
        let mut ping = liveness();
        let lost = loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        let Some(hub) = hub.upgrade() else { return };
                        receive(&hub, &place.channel, &counters, &message);
                    }
                    None => break RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
                },
                _ = ping.tick() => match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Err(err)) if connection_lost(&err) => break err,
                    Ok(_) => {}
                    Err(_) => break RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)),
                },
            }
        };
        state.lost(&lost);
    }
}

/// A new connection, subscribed to the channel.
async fn subscribed(place: &Place) -> Result<(PubSubSink, PubSubStream), RedisError> {
    let subscribing = async {
        let mut pubsub = place.client.get_async_pubsub().await?;
        pubsub.subscribe(&place.channel).await?;
        Ok(pubsub.split())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, subscribing)
        .await
        .unwrap_or_else(|_| Err(RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))))
}

/// Decodes one message from the channel and delivers it to the hub's connections.
fn receive(hub: &EventHub, channel: &str, counters: &Counters, message: &Msg) {
    counters.received.fetch_add(1, Ordering::Relaxed);
    match wire::decode(message.get_payload_bytes()) {
        Ok(Incoming::Hook { app_key, event_type, body }) => hub.deliver_hook(&app_key, event_type, body),
        Ok(Incoming::Event { app_key, event_type, id, data }) => hub.deliver(&app_key, &event_type, &id, data),
        Err(err) => {
            let count = counters.decode_errors.fetch_add(1, Ordering::Relaxed) + 1;
            if sampled(count) {
                tracing::warn!(%channel, error = %err, count, "event bus: a message that is not an event, ignored");
            }
        }
    }
}

/// Whether the `count`th occurrence of a recurring problem is logged: the first ten, then one
/// in a thousand, so that a flood of them does not flood the log.
fn sampled(count: u64) -> bool {
    count <= 10 || count.is_multiple_of(1000)
}

/// Whether `err` means the connection must be replaced (rather than one command refused).
fn connection_lost(err: &RedisError) -> bool {
    err.is_unrecoverable_error() || err.is_io_error() || err.is_connection_dropped() || err.is_timeout()
}

/// One task's connection: its `up` flag, its backoff, and the logs of its transitions.
struct ConnectionState<'a> {
    role: &'static str,
    address: &'a str,
    up: &'a AtomicBool,
    reconnects: &'a AtomicU64,
    /// The next wait after a failed attempt.
    backoff: Duration,
    /// Connected at least once: the next connection is a reconnect.
    was_up: bool,
    /// Failures since the last success; only the first is logged as a warning.
    failures: u64,
}

impl<'a> ConnectionState<'a> {
    fn new(role: &'static str, address: &'a str, up: &'a AtomicBool, reconnects: &'a AtomicU64) -> Self {
        ConnectionState { role, address, up, reconnects, backoff: BACKOFF_MIN, was_up: false, failures: 0 }
    }

    fn connected(&mut self) {
        self.up.store(true, Ordering::Relaxed);
        if self.was_up {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let (role, redis) = (self.role, self.address);
        tracing::info!(role, redis, after_failures = self.failures, "event bus: connected");
        (self.was_up, self.failures, self.backoff) = (true, 0, BACKOFF_MIN);
    }

    fn lost(&mut self, err: &RedisError) {
        self.up.store(false, Ordering::Relaxed);
        let (role, redis) = (self.role, self.address);
        tracing::warn!(role, redis, error = %err, "event bus: connection lost, reconnecting");
    }

    /// Records a failed attempt; returns how long to wait before the next.
    fn failed(&mut self, err: &RedisError) -> Duration {
        self.failures += 1;
        let (role, redis, failures) = (self.role, self.address, self.failures);
        if failures == 1 {
            tracing::warn!(role, redis, error = %err, "event bus: cannot connect, retrying");
        } else {
            tracing::debug!(role, redis, error = %err, failures, "event bus: cannot connect");
        }
        let pause = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        // The forms themselves are hookgate_config::redact_url's tests.
        for url in [
            "redis://:s3cret@10.0.0.1:6379/2",
            "unix:///run/redis.sock?db=1&pass=s3cret",
            "redis://user:s3cret@host:port-is-not-a-number",
        ] {
            let config = format!("{:?}", BusConfig::new(url));
            assert!(config.contains(&format!("url: {:?}", redact_url(url))) && !config.contains("s3cret"), "{config}");
        }
    }

    #[tokio::test]
    async fn only_a_malformed_configuration_or_a_second_bus_is_refused() {
        let hub = EventHub::new();
        let err = RedisBus::start(&hub, BusConfig::new("http://user:s3cret@host/")).err().expect("not a Redis URL");
        assert!(err.to_string().starts_with("event bus: Redis URL http://user:***@host/"), "{err}");
        let err = RedisBus::start(&hub, BusConfig { queue: 0, ..BusConfig::new("redis://127.0.0.1:1") }).err();
        assert_eq!(err.expect("no queue").to_string(), "event bus: queue must be greater than 0");

        let down = RedisBus::start(&hub, BusConfig::new("redis://127.0.0.1:1")).expect("Redis down is not an error");
        assert!(!down.stats().connected);
        let err = RedisBus::start(&hub, BusConfig::new("redis://127.0.0.1:1")).err().expect("a second bus");
        assert_eq!(err.to_string(), "event bus: this event hub already has a bus");
        hub.publish("app", "notification", "n", serde_json::json!({}));
        tokio::time::timeout(Duration::from_secs(10), down.stop()).await.expect("the tasks end");
        hub.publish("app", "notification", "n", serde_json::json!({}));
        assert_eq!(hub.stats().published, 0, "never delivered locally");
    }
}
