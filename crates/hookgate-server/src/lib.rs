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
mod error;
mod hooks;
mod metrics;
mod state;

pub use decision_log::{DecisionLog, DecisionTarget};
pub use error::ApiError;
pub use hooks::GENERATION_HEADER;
pub use state::AppState;

use axum::Router;
use axum::routing::{get, post};
use std::future::Future;
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

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
