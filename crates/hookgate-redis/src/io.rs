//! [`IoThread`]: a thread of its own where the state backend's Redis connection lives.
//!
//! The connection's driver (the task that writes requests and reads replies for every caller)
//! and the requests themselves run there, not on hookgate's workers: on a busy server the
//! workers' queues are full of evaluations, and a driver queued behind them would add that wait
//! to every round trip of every evaluation. On a thread of its own, the OS wakes it as soon as
//! Redis answers. Reconnections are spawned from the requests, so they stay there too.

use std::future::Future;
use std::thread::JoinHandle;

use redis::{ErrorKind, RedisError, RedisResult};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A single-threaded runtime on a thread of its own, stopped when dropped.
#[derive(Debug)]
pub(crate) struct IoThread {
    handle: Handle,
    /// Ends the thread's runtime when sent (or dropped).
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IoThread {
    /// Starts the thread, named `name`.
    pub(crate) fn start(name: &str) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let _ = runtime.block_on(stopped);
        })?;
        Ok(IoThread { handle, stop: Some(stop), thread: Some(thread) })
    }

    /// Runs `task` on the thread; the task is cancelled if the returned future is dropped.
    pub(crate) fn run<T, F>(&self, task: F) -> impl Future<Output = RedisResult<T>> + use<T, F>
    where
        T: Send + 'static,
        F: Future<Output = RedisResult<T>> + Send + 'static,
    {
        let task = AbortOnDrop(self.handle.spawn(task));
        async move {
            let mut task = task;
            match (&mut task.0).await {
                Ok(result) => result,
                Err(e) => Err(RedisError::from((ErrorKind::Io, "the Redis I/O thread stopped", e.to_string()))),
            }
        }
    }

    /// Enters the thread's runtime, so that what is created meanwhile (a connection manager's
    /// tasks) is spawned there.
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.handle.enter()
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        // Dropped from within the thread's own tasks it cannot wait for itself.
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// A spawned task that is aborted when its handle is dropped (a call that timed out).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_task_runs_on_the_thread_and_is_cancelled_with_its_future() {
        let io = IoThread::start("test-io").unwrap();
        let name = io.run(async { Ok(std::thread::current().name().map(str::to_owned)) }).await.unwrap();
        assert_eq!(name.as_deref(), Some("test-io"));

        let finished = Arc::new(AtomicBool::new(false));
        let task = io.run({
            let finished = Arc::clone(&finished);
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), task).await.is_err(), "still sleeping");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!finished.load(Ordering::SeqCst), "dropping the future aborted the task");
        drop(io);
    }
}
