//! [`Outbox`]: the bounded queue, the sender task, and shutdown.

use crate::config::{OutboxConfig, Settings};
use crate::delivery::deliver;
use crate::errors::{Refused, StartError};
use crate::message::{DataMessage, Job, Target};
use crate::stats::{Counters, OutboxStats};
use reqwest::Client;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Queues `send-data` messages and sends them in the background. Cheap to clone: every clone
/// feeds the same queue and reads the same counters.
///
/// One sender task takes a message off the queue only when fewer than `max_in_flight` are being
/// sent, and spawns one task per message for its attempts. A message is therefore either in the
/// queue (at most `queue_capacity`) or in flight (at most `max_in_flight`).
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox").field("capacity", &self.inner.capacity).field("stats", &self.stats()).finish()
    }
}

/// What the handles share.
struct Inner {
    /// The queue's sending side; `try_send` only, so `enqueue` never waits.
    queue: mpsc::Sender<Job>,
    /// For the `QueueFull` message.
    capacity: usize,
    stats: Arc<Counters>,
    /// `Some(deadline)` once shutdown was asked for. A watch, not the queue, carries it: other
    /// clones still hold senders, so the queue cannot close by being dropped.
    shutdown: watch::Sender<Option<Instant>>,
    /// The sender task, taken by the first `shutdown` to wait for it.
    sender_task: Mutex<Option<JoinHandle<()>>>,
}

impl Outbox {
    /// Checks `config`, builds the HTTP client (keep-alive, no proxy, no redirects) and spawns
    /// the sender task on the current tokio runtime.
    ///
    /// # Errors
    /// A value of `config` is out of range, there is no current tokio runtime, or the HTTP
    /// client cannot be built.
    pub fn start(config: OutboxConfig) -> Result<Outbox, StartError> {
        let settings = Arc::new(config.validate()?);
        let runtime = tokio::runtime::Handle::try_current().map_err(StartError::NoRuntime)?;
        let client = Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(settings.max_in_flight)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("hookgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(StartError::Client)?;
        let (queue, jobs) = mpsc::channel(settings.queue_capacity);
        let (shutdown, shutdown_rx) = watch::channel(None);
        let stats = Arc::new(Counters::default());
        let sender = Sender { jobs, shutdown: shutdown_rx, client, settings: settings.clone(), stats: stats.clone() };
        let sender_task = runtime.spawn(sender.run());
        Ok(Outbox {
            inner: Arc::new(Inner {
                queue,
                capacity: settings.queue_capacity,
                stats,
                shutdown,
                sender_task: Mutex::new(Some(sender_task)),
            }),
        })
    }

    /// Queues `message` for `target`. Never blocks nor waits: the work done here is checking
    /// the target, encoding the Basic header and serialising the body.
    ///
    /// # Errors
    /// The queue is full, the outbox is shut down, or the target is invalid. Every refusal is
    /// counted as dropped; none is logged here (the caller knows the tenant and policy).
    pub fn enqueue(&self, target: Target, message: DataMessage) -> Result<(), Refused> {
        let stats = &self.inner.stats;
        let refused = |refusal| {
            Counters::bump(&stats.dropped);
            Err(refusal)
        };
        let job = match Job::prepare(&target, &message) {
            Ok(job) => job,
            Err(refusal) => return refused(refusal),
        };
        match self.inner.queue.try_send(job) {
            Ok(()) => {
                Counters::bump(&stats.queued);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => refused(Refused::QueueFull { capacity: self.inner.capacity }),
            Err(mpsc::error::TrySendError::Closed(_)) => refused(Refused::Closed),
        }
    }

    /// The counters, as of now.
    pub fn stats(&self) -> OutboxStats {
        let queue = &self.inner.queue;
        let waiting = queue.max_capacity().saturating_sub(queue.capacity()) as u64;
        self.inner.stats.snapshot(waiting)
    }

    /// Stops taking messages and sends what is queued or in flight, for at most `grace`. What is
    /// left then is abandoned and counted as dropped. Returns when the sender task has ended.
    /// Shuts down every clone; a second call (from a clone) returns at once.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.inner.shutdown.send_if_modified(|asked| {
            let first = asked.is_none();
            if first {
                *asked = Some(deadline);
            }
            first
        });
        let task = self.inner.sender_task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "the send-data sender task ended abnormally");
        }
    }
}

/// The sender task's state.
struct Sender {
    jobs: mpsc::Receiver<Job>,
    shutdown: watch::Receiver<Option<Instant>>,
    client: Client,
    settings: Arc<Settings>,
    stats: Arc<Counters>,
}

impl Sender {
    /// Takes messages off the queue until shutdown is asked for (or every handle is dropped),
    /// then drains the queue and the sends in flight within the grace period.
    async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(self.settings.max_in_flight));
        let mut sends = JoinSet::new();
        let deadline = loop {
            let permit = tokio::select! {
                biased;
                deadline = shutdown_asked(&mut self.shutdown) => break Some(deadline),
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            let job = tokio::select! {
                biased;
                deadline = shutdown_asked(&mut self.shutdown) => break Some(deadline),
                job = self.jobs.recv() => match job {
                    Some(job) => job,
                    None => break None,
                },
            };
            sends.spawn(deliver(self.client.clone(), job, self.settings.clone(), self.stats.clone(), permit));
            while sends.try_join_next().is_some() {}
        };

        self.jobs.close();
        let drain = async {
            // The slot first, then the message: a message is never held while waiting, so one
            // cut off by the deadline is still in the queue and gets counted below.
            loop {
                let permit = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                let Some(job) = self.jobs.recv().await else { break };
                sends.spawn(deliver(self.client.clone(), job, self.settings.clone(), self.stats.clone(), permit));
            }
            while sends.join_next().await.is_some() {}
        };
        let drained = match deadline {
            None => {
                drain.await;
                true
            }
            Some(deadline) => tokio::time::timeout_at(deadline, drain).await.is_ok(),
        };
        if !drained {
            // Aborted deliveries count themselves as dropped when their future is dropped.
            let dropped_before = self.stats.dropped.load(Ordering::Relaxed);
            sends.abort_all();
            while sends.join_next().await.is_some() {}
            let in_flight = self.stats.dropped.load(Ordering::Relaxed) - dropped_before;
            let mut queued = 0;
            while self.jobs.try_recv().is_ok() {
                queued += 1;
            }
            Counters::add(&self.stats.dropped, queued);
            tracing::warn!(in_flight, queued, "send-data shutdown grace ran out; messages abandoned");
        }
    }
}

/// Resolves with the deadline once shutdown is asked for; never, if every handle is gone (the
/// closed queue then ends the sender).
async fn shutdown_asked(shutdown: &mut watch::Receiver<Option<Instant>>) -> Instant {
    match shutdown.wait_for(Option::is_some).await.ok().and_then(|asked| *asked) {
        Some(deadline) => deadline,
        None => std::future::pending().await,
    }
}
