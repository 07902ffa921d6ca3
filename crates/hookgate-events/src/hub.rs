//! [`EventHub`]: fan-out of events to the connections that attached them.
//!
//! The index maps appKey → event type → object id → the subscribers of that topic (plus, per
//! type, the subscribers attached without an id: `notification`). Each list is an immutable
//! `Arc<[Subscriber]>` replaced whole on attach or detach, so [`EventHub::publish`] holds the
//! read lock only for three hash lookups and an `Arc` clone.
//!
//! **The caller pays O(1).** When someone listens, `publish` hands the event and the two
//! subscriber lists to the hub's fan-out task through a bounded queue (`try_send`, so it
//! never waits) and returns. That task masks secrets, serialises the message once, and
//! `try_send`s the same bytes to every subscriber's connection queue, yielding to other tasks
//! every [`FANOUT_YIELD`] subscribers. A hook's cost is the same for one subscriber or ten
//! thousand (≈ 1 µs each when done inline, which is why it is not). A tokio task rather than
//! a thread: waking a thread on a busy machine lets the kernel preempt the hook's worker in
//! its favour (measured: the hook then waits out the whole fan-out), while waking a task only
//! queues it. If the fan-out task is [`FANOUT_QUEUE`] events behind, further events are
//! dropped and counted ([`HubStats::dropped`]) rather than slowing hooks. One task also keeps
//! every subscriber's events in publish order.
//!
//! **Slow subscribers.** Every connection has one bounded queue (`EventQueue`). The first event
//! that finds it full marks the subscriber as overflowed and wakes its connection, which tells
//! the client (code 7) and disconnects it; later events skip it. A slow subscriber costs the
//! fan-out one failed `try_send`, and nobody else anything.
//!
//! **Several instances.** With a [`RedisBus`](crate::RedisBus) attached, `publish` and
//! `publish_hook` hand the event to the bus (the same O(1) `try_send`) instead of the
//! fan-out; the bus brings every instance's events back, its own included, through the same
//! local path. See [`crate::bus`].

use crate::bus::Link;
use crate::bus::wire::BusEvent;
pub(crate) use crate::fanout::EventQueue;
use crate::fanout::{Job, fan_out};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, Weak};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Events waiting for the fan-out task, at most; past that, events are dropped and counted.
pub const FANOUT_QUEUE: usize = 16 * 1024;

/// Subscribers served between two yields of the fan-out task, so a topic with thousands of
/// subscribers does not hold a runtime worker for milliseconds.
pub const FANOUT_YIELD: usize = 256;

/// The event bus between hooks (and policies) and WebSocket subscribers. Cheap to clone: all
/// clones are one hub. Its fan-out task ends when the last clone is dropped.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    index: RwLock<HashMap<String, HashMap<String, TypeSubscribers>>>,
    fanout: mpsc::Sender<Job>,
    next_outbox: AtomicU64,
    counters: Arc<Counters>,
    /// Set once by [`RedisBus::start`](crate::RedisBus::start): publishing then goes through
    /// Redis, and what Redis delivers comes back through [`EventHub::deliver`].
    bus: OnceLock<Link>,
}

/// An [`EventHub`] that may have been dropped.
pub(crate) struct WeakHub(Weak<Inner>);

impl WeakHub {
    /// The hub, unless every clone of it was dropped.
    pub(crate) fn upgrade(&self) -> Option<EventHub> {
        self.0.upgrade().map(|inner| EventHub { inner })
    }
}

/// Shared with the fan-out task (which must not hold [`Inner`], or the hub would never end).
#[derive(Default)]
pub(crate) struct Counters {
    connections: AtomicUsize,
    pending: AtomicUsize,
    subscriptions: AtomicUsize,
    published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    dropped: AtomicU64,
    pub(crate) slow_disconnects: AtomicU64,
}

#[derive(Default)]
struct TypeSubscribers {
    /// Attached without an id (only `notification` allows it): every id of the type.
    any: Arc<[Subscriber]>,
    by_id: HashMap<String, Arc<[Subscriber]>>,
}

pub(crate) type Subscriber = Arc<EventQueue>;

/// Counters of the hub, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubStats {
    /// Authenticated WebSocket connections open now (counted from their first successful
    /// request, against `max_connections`).
    pub connections: usize,
    /// Connections accepted and not yet authenticated: in their WebSocket handshake, or
    /// waiting for their first successful request (against `max_pending_connections`).
    pub pending: usize,
    /// Subscriptions attached now (one per connection, appKey, type and id).
    pub subscriptions: usize,
    /// Events published since start, with or without subscribers. With a
    /// [`RedisBus`](crate::RedisBus): events received from the bus (every instance's), as
    /// they reach this hub's fan-out.
    pub published: u64,
    /// Event messages queued to subscribers since start.
    pub delivered: u64,
    /// Events dropped because the fan-out task was [`FANOUT_QUEUE`] events behind.
    pub dropped: u64,
    /// Subscribers disconnected because their queue was full.
    pub slow_disconnects: u64,
}

/// What one `attach` names: a tenant, an event type and an object id (`None`: every id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Topic {
    pub(crate) app_key: String,
    pub(crate) event_type: String,
    pub(crate) id: Option<String>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new()
    }
}

impl EventHub {
    /// An empty hub, with its fan-out task.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the fan-out task is spawned on the current one).
    pub fn new() -> Self {
        let (fanout, jobs) = mpsc::channel(FANOUT_QUEUE);
        let counters = Arc::new(Counters::default());
        tokio::spawn(fan_out(jobs, counters.clone()));
        let inner =
            Inner { index: RwLock::default(), fanout, next_outbox: AtomicU64::new(0), counters, bus: OnceLock::new() };
        EventHub { inner: Arc::new(inner) }
    }

    /// Publishes an event of tenant `app_key` to the connections attached to
    /// (`event_type`, `id`) — and, for `notification`, to those attached to every
    /// notification. `data` is sent with its secrets masked ([`crate::mask_secrets`]).
    ///
    /// Never blocks or awaits, and costs the same whatever the number of subscribers: it is
    /// meant for the hook's hot path (see the module doc). With a
    /// [`RedisBus`](crate::RedisBus) the event goes to every instance's subscribers through
    /// Redis instead, at the same cost to the caller.
    pub fn publish(&self, app_key: &str, event_type: &str, id: &str, data: Value) {
        match self.inner.bus.get() {
            Some(bus) => bus.send(BusEvent::Event {
                app_key: app_key.to_owned(),
                event_type: event_type.to_owned(),
                id: id.to_owned(),
                data,
            }),
            None => self.deliver(app_key, event_type, id, data),
        }
    }

    /// Publishes a WCS hook as its event ([`crate::event_key`]), if it is one. `body` is the
    /// hook's JSON body as received. The body is parsed only when a connection of the tenant
    /// is attached to the hook's event type, so a hook nobody watches costs a catalogue lookup
    /// and two hash lookups. A body that is not JSON, or lacks the id field, publishes nothing.
    ///
    /// With a [`RedisBus`](crate::RedisBus), an event hook costs the caller a copy of `body`
    /// instead, and the check and the parsing happen on each receiving instance.
    pub fn publish_hook(&self, app_key: &str, method: &str, body: &str) {
        let Some(event_type) = crate::hooks::event_type(method) else { return };
        match self.inner.bus.get() {
            Some(bus) => bus.send(BusEvent::Hook {
                app_key: app_key.to_owned(),
                event_type: event_type.0,
                body: body.to_owned(),
            }),
            None => self.deliver_hook(app_key, event_type, body),
        }
    }

    /// Publishes to this instance's connections: [`EventHub::publish`] without a bus.
    pub(crate) fn deliver(&self, app_key: &str, event_type: &str, id: &str, data: Value) {
        let counters = &self.inner.counters;
        counters.published.fetch_add(1, Ordering::Relaxed);
        let (exact, any) = {
            let index = self.inner.index.read().unwrap_or_else(PoisonError::into_inner);
            match index.get(app_key).and_then(|types| types.get(event_type)) {
                Some(subscribers) => (subscribers.by_id.get(id).cloned().unwrap_or_default(), subscribers.any.clone()),
                None => return,
            }
        };
        if exact.is_empty() && any.is_empty() {
            return;
        }
        let job = Job { exact, any, event_type: event_type.to_owned(), id: id.to_owned(), data };
        match self.inner.fanout.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_)) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Publishes a hook to this instance's connections: [`EventHub::publish_hook`] without a
    /// bus. `event_type` is the hook's (event type, id field) ([`crate::hooks::event_type`]).
    pub(crate) fn deliver_hook(&self, app_key: &str, event_type: (&'static str, &'static str), body: &str) {
        let (event_type, id_field) = event_type;
        let watched = {
            let index = self.inner.index.read().unwrap_or_else(PoisonError::into_inner);
            index.get(app_key).is_some_and(|types| types.contains_key(event_type))
        };
        if !watched {
            self.inner.counters.published.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(payload) = serde_json::from_str::<Value>(body) else { return };
        if let Some(id) = payload.get(id_field).and_then(Value::as_str) {
            let id = id.to_owned();
            self.deliver(app_key, event_type, &id, payload);
        }
    }

    /// Routes this hub's events through `bus` from now on; gives it back if the hub has one.
    pub(crate) fn attach_bus(&self, bus: Link) -> Result<(), Link> {
        self.inner.bus.set(bus)
    }

    /// A reference to the hub that does not keep it alive (the bus's subscriber task holds
    /// one, so that dropping the hub ends the bus).
    pub(crate) fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.inner))
    }

    /// The hub's counters now.
    pub fn stats(&self) -> HubStats {
        let counters = &self.inner.counters;
        HubStats {
            connections: counters.connections.load(Ordering::Relaxed),
            pending: counters.pending.load(Ordering::Relaxed),
            subscriptions: counters.subscriptions.load(Ordering::Relaxed),
            published: counters.published.load(Ordering::Relaxed),
            delivered: counters.delivered.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            slow_disconnects: counters.slow_disconnects.load(Ordering::Relaxed),
        }
    }

    /// A new connection's queue.
    pub(crate) fn outbox(&self, capacity: usize) -> (Arc<EventQueue>, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(capacity);
        let id = self.inner.next_outbox.fetch_add(1, Ordering::Relaxed);
        (Arc::new(EventQueue { id, tx, overflowed: AtomicBool::new(false), overflow: Notify::new() }), rx)
    }

    /// Takes one of the `limit` slots of authenticated connections ([`HubStats::connections`]);
    /// `None` when all are taken.
    pub(crate) fn open_connection(&self, limit: usize) -> Option<Slot> {
        self.open_slot(limit, |counters| &counters.connections)
    }

    /// Takes one of the `limit` slots of connections not yet authenticated
    /// ([`HubStats::pending`]); `None` when all are taken.
    pub(crate) fn open_pending(&self, limit: usize) -> Option<Slot> {
        self.open_slot(limit, |counters| &counters.pending)
    }

    fn open_slot(&self, limit: usize, counter: fn(&Counters) -> &AtomicUsize) -> Option<Slot> {
        let counters = &self.inner.counters;
        counter(counters)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < limit).then_some(open + 1))
            .ok()
            .map(|_| Slot { counters: counters.clone(), counter })
    }

    /// Adds the outbox to the topic's subscribers; false if it already was one.
    pub(crate) fn attach(&self, outbox: &Subscriber, topic: &Topic) -> bool {
        let mut index = self.inner.index.write().unwrap_or_else(PoisonError::into_inner);
        let subscribers = index.entry(topic.app_key.clone()).or_default().entry(topic.event_type.clone()).or_default();
        let list = match &topic.id {
            Some(id) => subscribers.by_id.entry(id.clone()).or_default(),
            None => &mut subscribers.any,
        };
        if list.iter().any(|s| s.id == outbox.id) {
            return false;
        }
        *list = list.iter().cloned().chain(std::iter::once(outbox.clone())).collect();
        self.inner.counters.subscriptions.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes the outbox from the topic's subscribers, and empty entries from the index.
    pub(crate) fn detach(&self, outbox: &EventQueue, topic: &Topic) {
        let mut index = self.inner.index.write().unwrap_or_else(PoisonError::into_inner);
        let Some(types) = index.get_mut(&topic.app_key) else { return };
        let Some(subscribers) = types.get_mut(&topic.event_type) else { return };
        let list = match &topic.id {
            Some(id) => match subscribers.by_id.get_mut(id) {
                Some(list) => list,
                None => return,
            },
            None => &mut subscribers.any,
        };
        let before = list.len();
        *list = list.iter().filter(|s| s.id != outbox.id).cloned().collect();
        if list.len() < before {
            self.inner.counters.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        if list.is_empty()
            && let Some(id) = &topic.id
        {
            subscribers.by_id.remove(id);
        }
        if subscribers.any.is_empty() && subscribers.by_id.is_empty() {
            types.remove(&topic.event_type);
        }
        if types.is_empty() {
            index.remove(&topic.app_key);
        }
    }
}

/// One connection counted in [`HubStats::connections`] or [`HubStats::pending`] until dropped.
pub(crate) struct Slot {
    counters: Arc<Counters>,
    counter: fn(&Counters) -> &AtomicUsize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        (self.counter)(&self.counters).fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[path = "tests/hub.rs"]
mod tests;
