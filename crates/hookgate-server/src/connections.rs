//! The accept loop of both listeners: every connection bounded in time, a cap on how many are
//! open, and a clean refusal past it.
//!
//! Connections speak HTTP/1.1 only. WCS sends hooks with Java's `HttpURLConnection` (HTTP/1.1)
//! and Prometheus scrapes over HTTP/1.1, so serving HTTP/2 (h2c) would only add a protocol
//! whose streams, settings and resets a peer could use to hold the process; a client that
//! opens with the HTTP/2 preface is closed at once.
//!
//! Three clocks bound a connection:
//! - hyper's header timer: from the moment the server waits for a request (first byte, or the
//!   next request of a keep-alive connection) until its headers are complete;
//! - the idle clock ([`ConnectionLimits::idle_timeout`]): no byte read or written and no
//!   request being answered for that long closes the connection (a client that stops reading
//!   its answers, or trickles a body nobody waits for);
//! - the body timeout of the hook handler.

use axum::Router;
use hookgate_engine::LogBudget;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::counter::Counter;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How a listener bounds its connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// The listener's name in logs and in `hookgate_connections_refused_total`: `hooks` or `admin`.
    pub listener: &'static str,
    /// Time a client gets to send a request's headers, counted from when the server waits for
    /// them: a connection that sends nothing, or stays idle between keep-alive requests, is
    /// closed after this long.
    pub header_read_timeout: Duration,
    /// Time a connection may go without a byte in either direction while no request of it is
    /// being answered.
    pub idle_timeout: Duration,
    /// Connections open at once; past it a new connection is answered 503 and closed.
    pub max_connections: usize,
}

/// Default time a client gets to send a request's headers (slow-loris protection).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle bound of a connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default connection cap of the hook listener (above the 10,000 concurrent hooks hookgate
/// is tested with; keep it below `ulimit -n`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Default connection cap of the admin listener (scrapers and operators).
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 64;

/// Refusals written at once; past them an extra connection is closed without an answer, so
/// that refusing cannot itself hold many sockets.
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is drained (its request read and dropped) before it is closed,
/// so that the kernel does not reset it before the client reads the 503.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);
/// The answer past the cap: complete, and the connection closes after it.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 77\r\n\
connection: close\r\n\
retry-after: 1\r\n\
\r\n\
{\"error\":\"too many connections: hookgate is at its connection limit, retry\"}\n";

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish (idle keep-alive connections are closed). `refused` counts the
/// connections turned away at the cap.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    refused: Counter,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let refusals_logged = LogBudget::new(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: keep serving the open connections.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            refused.inc();
            if let Some(held_back) = refusals_logged.take() {
                tracing::warn!(
                    listener = limits.listener,
                    max_connections = limits.max_connections,
                    held_back,
                    "connection refused: at the connection limit"
                );
            }
            if let Ok(refusal) = Arc::clone(&refusing).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked { inner: stream, activity: Arc::clone(&activity) });
        let service = hyper::service::service_fn({
            let router = router.clone();
            let activity = Arc::clone(&activity);
            move |request| {
                let answering = Answering::start(&activity);
                let router = router.clone();
                async move {
                    let response = tower::ServiceExt::oneshot(router, request).await;
                    drop(answering);
                    response
                }
            }
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut wake = activity.deadline(idle_timeout);
            loop {
                tokio::select! {
                    ended = &mut connection => {
                        if let Err(err) = ended {
                            tracing::debug!("connection ended: {err}");
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(wake) => {
                        if activity.is_idle(idle_timeout) {
                            tracing::debug!("closing a connection idle for {idle_timeout:?}");
                            break;
                        }
                        // Still answering a request: look again a little later.
                        wake = activity.deadline(idle_timeout).max(Instant::now() + idle_timeout / 8);
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a connection past the cap with [`REFUSAL`], then reads what it sent for a moment
/// and closes it.
async fn refuse(mut stream: TcpStream) {
    if stream.write_all(REFUSAL).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {}
    })
    .await;
}

/// When a connection last moved a byte, and how many of its requests are being answered.
struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the last byte read or written.
    last_ms: AtomicU64,
    answering: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity { started: Instant::now(), last_ms: AtomicU64::new(0), answering: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// When the connection becomes idle if nothing moves.
    fn deadline(&self, idle_timeout: Duration) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle_timeout
    }

    fn is_idle(&self, idle_timeout: Duration) -> bool {
        self.answering.load(Ordering::Acquire) == 0 && Instant::now() >= self.deadline(idle_timeout)
    }
}

/// A request being answered: the connection is not idle while it lives.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: &Arc<Activity>) -> Answering {
        activity.answering.fetch_add(1, Ordering::AcqRel);
        Answering(Arc::clone(activity))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.touch();
        self.0.answering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A TCP stream that records every byte it moves in its [`Activity`].
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSAL;

    #[test]
    fn the_refusal_is_a_complete_answer() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize =
            head.lines().find_map(|line| line.strip_prefix("content-length: ")).unwrap().parse().unwrap();
        assert_eq!(length, body.len());
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
