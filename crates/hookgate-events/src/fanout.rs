//! The hub's fan-out task and the connection queues it fills (see [`crate::hub`]).

use crate::hub::{Counters, FANOUT_YIELD, Subscriber};
use crate::protocol::event_message;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One event on its way to the fan-out task, with its subscribers as they were at `publish`.
pub(crate) struct Job {
    pub(crate) exact: Arc<[Subscriber]>,
    pub(crate) any: Arc<[Subscriber]>,
    pub(crate) event_type: String,
    pub(crate) id: String,
    pub(crate) data: Value,
}

/// One connection's queue of event messages.
pub(crate) struct EventQueue {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<Utf8Bytes>,
    pub(crate) overflowed: AtomicBool,
    /// Woken once, by the first event that finds the queue full.
    pub(crate) overflow: Notify,
}

/// The fan-out task: delivers each job in publish order until the hub is dropped.
pub(crate) async fn fan_out(mut jobs: mpsc::Receiver<Job>, counters: Arc<Counters>) {
    while let Some(mut job) = jobs.recv().await {
        crate::mask_secrets(&mut job.data);
        let message = event_message(&job.event_type, &job.id, &job.data);
        // A connection attached both to this id and to every id gets the event once.
        let already: HashSet<u64> = if job.exact.is_empty() || job.any.is_empty() {
            HashSet::new()
        } else {
            job.exact.iter().map(|s| s.id).collect()
        };
        let subscribers = job.exact.iter().chain(job.any.iter().filter(|s| !already.contains(&s.id)));
        let mut delivered = 0;
        for (n, subscriber) in subscribers.enumerate() {
            if n > 0 && n % FANOUT_YIELD == 0 {
                tokio::task::yield_now().await;
            }
            delivered += offer(subscriber, &message, &counters);
        }
        counters.delivered.fetch_add(delivered, Ordering::Relaxed);
    }
}

/// Queues one message to one connection; 1 if queued.
fn offer(subscriber: &EventQueue, message: &Utf8Bytes, counters: &Counters) -> u64 {
    if subscriber.overflowed.load(Ordering::Relaxed) {
        return 0;
    }
    match subscriber.tx.try_send(message.clone()) {
        Ok(()) => 1,
        Err(mpsc::error::TrySendError::Full(_)) => {
            if !subscriber.overflowed.swap(true, Ordering::Relaxed) {
                counters.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                subscriber.overflow.notify_one();
            }
            0
        }
        // The connection is closing; it detaches everything on its way out.
        Err(mpsc::error::TrySendError::Closed(_)) => 0,
    }
}
