//! The HTTP side of hookgate: the only crate that touches axum.
//!
//! [`router`] builds the hook listener's routes: `POST /{any prefix}/{method}` answers a WCS
//! hook (the last path segment is the method), `GET /healthz` and `GET /readyz` report health.
//! Malformed input gets a precise JSON error ([`ApiError`]): a wrong content type (415), an
//! oversized body (413), a body that is not JSON or not an object (400), a path without a
//! method (404). Every answer carries `X-Hookgate-Generation: <tenant>/<generation>`.
//! [`admin_router`] serves `/healthz`, `/readyz`, `/metrics`, `GET /api/policies` and
//! `POST /api/reload`. [`serve`] runs a router until a shutdown signal, finishing in-flight
//! hooks.

mod admin;
mod decision_log;
mod effects;
mod error;
mod hooks;
mod metrics;
mod service_metrics;
mod state;

pub use decision_log::{DecisionLog, DecisionTarget};
pub use effects::{DataSender, Effects, SendDataConfig};
pub use error::ApiError;
pub use hooks::GENERATION_HEADER;
pub use state::AppState;

use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// Default largest accepted hook body: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The hook listener's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/", post(hooks::no_method))
        .route("/{*path}", post(hooks::hook))
        .fallback(hooks::not_found)
        .with_state(state)
}

/// The admin listener's routes: health, readiness, metrics, policy status and forced reload.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(admin::metrics))
        .route("/api/policies", get(admin::policies))
        .route("/api/reload", post(admin::reload))
        .fallback(hooks::not_found)
        .with_state(state)
}

/// Default time a client gets to send a request's headers (slow-loris protection).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish (idle keep-alive connections are closed).
///
/// A connection that has not sent complete request headers within `header_read_timeout` is
/// closed, so slow clients cannot hold connections (and file descriptors) without bound.
/// `axum::serve` sets no such timeout; this loop is hyper-util's auto builder with a timer.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
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
        let service = TowerToHyperService::new(router.clone());
        let connection =
            graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection ended: {err}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
