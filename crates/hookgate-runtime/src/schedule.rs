//! How guests share the tokio workers: deadlines in running time, and the long lane.
//!
//! Most evaluations finish in microseconds and never notice the epoch ticker: when a tick
//! interrupts one that has run for less than [`SLICE`], it simply goes on. An evaluation that
//! has run for a whole slice is *long*: from then on it yields its worker at every tick and may
//! only run while it holds a permit of the long lane. The lane has fewer permits than there are
//! workers, so long evaluations (a policy spinning to its deadline, a slow interpreter) take
//! turns on some workers while the others stay free for the short evaluations of every tenant.
//! Time spent waiting for a worker or for the lane does not count against the deadline, but a
//! long evaluation is also stopped once [`WALL_FACTOR`] times its budget has passed on the
//! clock, so that many long evaluations sharing the lane still end in bounded time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::UpdateDeadline;

/// Running time after which an evaluation is long and moves to the long lane.
pub(crate) const SLICE: Duration = Duration::from_micros(500);
/// A long evaluation is stopped after this many times its budget of wall-clock time.
pub(crate) const WALL_FACTOR: u32 = 4;

/// The clock of one evaluation: its budget, the time it spent waiting, and its lane permit.
pub(crate) struct Turns {
    budget: Duration,
    started: Instant,
    waited_ns: Arc<AtomicU64>,
    lane: Arc<Semaphore>,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl Turns {
    /// Starts the clock of an evaluation allowed `budget` of running time.
    pub(crate) fn new(budget: Duration, lane: Arc<Semaphore>) -> Turns {
        Turns {
            budget,
            started: Instant::now(),
            waited_ns: Arc::new(AtomicU64::new(0)),
            lane,
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// What to do at an epoch tick: interrupt past the budget, go on while short, otherwise
    /// give the worker and the lane back and wait for both again.
    pub(crate) fn tick(&self) -> UpdateDeadline {
        let waited = Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed));
        let elapsed = self.started.elapsed();
        let running = elapsed.saturating_sub(waited);
        if running >= self.budget || elapsed >= self.budget * WALL_FACTOR {
            return UpdateDeadline::Interrupt;
        }
        if running < SLICE {
            return UpdateDeadline::Continue(1);
        }
        // Release the lane before yielding so that the next long evaluation in line runs.
        self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
        let (waited_ns, lane, held) = (Arc::clone(&self.waited_ns), Arc::clone(&self.lane), Arc::clone(&self.held));
        // tokio's yield_now puts the task at the back of the run queue; a plain self-wake
        // (UpdateDeadline::Yield) lands in the LIFO slot and runs the guest again at once.
        UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                let yielded = Instant::now();
                tokio::task::yield_now().await;
                // The lane is never closed; a closed one would only mean running unlaned.
                let permit = lane.acquire_owned().await.ok();
                *held.lock().unwrap_or_else(PoisonError::into_inner) = permit;
                let waited = u64::try_from(yielded.elapsed().as_nanos()).unwrap_or(u64::MAX);
                waited_ns.fetch_add(waited, Ordering::Relaxed);
            }),
        )
    }
}
