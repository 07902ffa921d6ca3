//! How guests share the tokio workers: deadlines in running time, and the long lane.
//!
//! Most evaluations finish in microseconds and never notice the epoch ticker: when a tick
//! interrupts one that has run for less than [`SLICE`] of its thread's CPU time, it simply goes
//! on (CPU time, so that a thread the OS preempted does not make a short evaluation look long). An evaluation that
//! has run for a whole slice is *long*: from then on it yields its worker at every tick and may
//! only run while it holds a permit of the long lane. The lane has fewer permits than there are
//! workers, so long evaluations (a policy spinning to its deadline, a slow interpreter) take
//! turns on some workers while the others stay free for the short evaluations of every tenant.
//! A policy whose recent evaluations were long enters the lane before it starts, so that its
//! first half-millisecond does not run beside the short evaluations either ([`Streak`]).
//!
//! Time spent waiting for a worker, for the lane or for a host call (`state`, whose task may
//! resume on another thread) does not count against the deadline, but a
//! long evaluation is also stopped once [`WALL_FACTOR`] times its budget has passed on the
//! clock, so that many long evaluations sharing the lane still end in bounded time.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::UpdateDeadline;

/// Running time after which an evaluation is long and moves to the long lane.
pub(crate) const SLICE: Duration = Duration::from_micros(500);
/// A long evaluation is stopped after this many times its budget of wall-clock time.
pub(crate) const WALL_FACTOR: u32 = 4;

/// Evaluations of a policy that enter the lane at once after one of its evaluations was long.
const STREAK: u32 = 16;

/// How recently a policy's evaluations were long: set by a long one, worn down by short ones.
#[derive(Default)]
pub(crate) struct Streak(AtomicU32);

impl Streak {
    /// Whether the next evaluation should enter the lane before it starts.
    pub(crate) fn long(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    /// Records how an evaluation went.
    pub(crate) fn record(&self, turns: &Turns) {
        if turns.long.load(Ordering::Relaxed) {
            self.0.store(STREAK, Ordering::Relaxed);
        } else {
            let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }
}

/// The clock of one evaluation: its budget, the time it spent waiting, and its lane permit.
pub(crate) struct Turns {
    budget: Duration,
    started: Instant,
    /// The thread's CPU time when the evaluation started running on it; until its first yield
    /// the evaluation stays on that thread.
    cpu_started: Mutex<Duration>,
    /// CPU time run before the host calls the guest awaited (the task may resume on another
    /// thread, whose CPU clock says nothing about this evaluation).
    cpu_banked_ns: AtomicU64,
    waited_ns: Arc<AtomicU64>,
    lane: Arc<Semaphore>,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    long: Arc<AtomicBool>,
}

impl Turns {
    /// Starts the clock of an evaluation allowed `budget` of running time.
    pub(crate) fn new(budget: Duration, lane: Arc<Semaphore>) -> Turns {
        Turns {
            budget,
            started: Instant::now(),
            cpu_started: Mutex::new(thread_cpu_now()),
            cpu_banked_ns: AtomicU64::new(0),
            waited_ns: Arc::new(AtomicU64::new(0)),
            lane,
            held: Arc::new(Mutex::new(None)),
            long: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Enters the lane before the evaluation starts (the wait does not count as running).
    pub(crate) async fn enter_lane(&self) {
        let waiting = Instant::now();
        let permit = Arc::clone(&self.lane).acquire_owned().await.ok();
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = permit;
        // Not marked long: only running past the slice does that, so a policy that has become
        // fast again wears its streak down.
        self.waited_ns.fetch_add(nanos(waiting.elapsed()), Ordering::Relaxed);
        // The task may have moved to another thread while it waited.
        *self.cpu_started.lock().unwrap_or_else(PoisonError::into_inner) = thread_cpu_now();
    }

    /// Gives the lane back once the evaluation is over (a kept instance's store would
    /// otherwise hold it while idle).
    pub(crate) fn leave_lane(&self) {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Stops the clock for a host call the guest awaits (a `state` call): the CPU time run so
    /// far is banked; [`Turns::resume`] restarts it.
    pub(crate) fn pause(&self) -> Instant {
        let started = *self.cpu_started.lock().unwrap_or_else(PoisonError::into_inner);
        self.cpu_banked_ns.fetch_add(nanos(thread_cpu_now().saturating_sub(started)), Ordering::Relaxed);
        Instant::now()
    }

    /// Restarts the clock after a host call that began at `paused`, on the thread the task
    /// resumed on; the wait does not count as running (the wall-clock limit still holds).
    pub(crate) fn resume(&self, paused: Instant) {
        self.waited_ns.fetch_add(nanos(paused.elapsed()), Ordering::Relaxed);
        *self.cpu_started.lock().unwrap_or_else(PoisonError::into_inner) = thread_cpu_now();
    }

    /// What to do at an epoch tick: interrupt past the budget, go on while short, otherwise
    /// give the worker and the lane back and wait for both again.
    pub(crate) fn tick(&self) -> UpdateDeadline {
        let waited = Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed));
        let elapsed = self.started.elapsed();
        let over_wall = elapsed >= self.budget * WALL_FACTOR;
        let long = self.long.load(Ordering::Relaxed);
        let running = if long {
            elapsed.saturating_sub(waited)
        } else if let Some(now) = thread_cpu_time() {
            // A short evaluation is judged by its CPU time alone: on a loaded host its thread
            // may be preempted for longer than the wall-clock bound while the guest has run
            // for microseconds.
            let started = *self.cpu_started.lock().unwrap_or_else(PoisonError::into_inner);
            let banked = Duration::from_nanos(self.cpu_banked_ns.load(Ordering::Relaxed));
            banked + now.saturating_sub(started)
        } else {
            // Without a CPU clock only the wall clock is left.
            return if over_wall { UpdateDeadline::Interrupt } else { UpdateDeadline::Continue(1) };
        };
        if running >= self.budget || (long && over_wall) {
            return UpdateDeadline::Interrupt;
        }
        if running < SLICE {
            return UpdateDeadline::Continue(1);
        }
        self.long.store(true, Ordering::Relaxed);
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
                waited_ns.fetch_add(nanos(yielded.elapsed()), Ordering::Relaxed);
            }),
        )
    }
}

/// CPU time of the calling thread, `None` if the clock cannot be read.
fn thread_cpu_time() -> Option<Duration> {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok().map(Duration::from)
}

/// CPU time of the calling thread, zero if the clock cannot be read (the evaluation then
/// looks short, and only the wall clock bounds it).
fn thread_cpu_now() -> Duration {
    thread_cpu_time().unwrap_or_default()
}

/// A duration in nanoseconds, saturating.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns `cpu` of the calling thread's CPU time.
    fn burn(cpu: Duration) {
        let start = thread_cpu_now();
        while thread_cpu_now().saturating_sub(start) < cpu {
            std::hint::black_box(0u64.wrapping_add(1));
        }
    }

    #[test]
    fn a_host_call_resumed_on_a_busier_thread_does_not_count_that_threads_cpu_time() {
        let turns = Arc::new(Turns::new(Duration::from_millis(50), Arc::new(Semaphore::new(1))));
        let paused = turns.pause();
        // The task resumes on another worker, one that has run for longer than the budget.
        let other = Arc::clone(&turns);
        let deadline = std::thread::spawn(move || {
            burn(Duration::from_millis(80));
            other.resume(paused);
            other.tick()
        });
        assert!(matches!(deadline.join().unwrap(), UpdateDeadline::Continue(1)), "a short evaluation goes on");
    }

    #[test]
    fn a_short_evaluation_whose_thread_was_preempted_goes_on() {
        let turns = Turns::new(Duration::from_millis(2), Arc::new(Semaphore::new(1)));
        // Off CPU for more than the wall-clock bound, as a preempted thread on a loaded host.
        std::thread::sleep(Duration::from_millis(2) * WALL_FACTOR * 2);
        assert!(matches!(turns.tick(), UpdateDeadline::Continue(1)), "it has run for microseconds");
    }

    #[test]
    fn cpu_time_before_a_host_call_still_counts() {
        let turns = Turns::new(Duration::from_millis(20), Arc::new(Semaphore::new(1)));
        burn(Duration::from_millis(15));
        let paused = turns.pause();
        turns.resume(paused);
        burn(Duration::from_millis(10));
        assert!(matches!(turns.tick(), UpdateDeadline::Interrupt), "15 + 10 ms of a 20 ms budget");
    }
}
