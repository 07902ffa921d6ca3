//! [`OutboxStats`]: what happened to the messages, for `/metrics`.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the outbox counters. All but `waiting` only grow, from the start of the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Messages in the queue now, not yet taken by the sender (a gauge: is WCS keeping up?).
    pub waiting: u64,
    /// Messages accepted by `enqueue`.
    pub queued: u64,
    /// Messages WCS answered with a 2xx.
    pub sent: u64,
    /// Attempts after the first (a message retried twice counts 2).
    pub retried: u64,
    /// Messages given up: a 4xx, an error that is not retried, or the last attempt failed.
    pub failed: u64,
    /// Messages never delivered nor failed: refused by `enqueue` (full queue, shut down, bad
    /// target), or still queued or in flight when the shutdown grace ran out.
    pub dropped: u64,
}

/// The live counters behind [`OutboxStats`], shared by the handles and the sender tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`. Relaxed: the counters are independent tallies, read for metrics.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads every counter; `waiting` comes from the queue, which the caller owns.
    pub(crate) fn snapshot(&self, waiting: u64) -> OutboxStats {
        OutboxStats {
            waiting,
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
