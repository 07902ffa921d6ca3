//! The HTTP side of hookgate: the only crate that touches axum.
//!
//! [`router`] builds the hook listener's routes: `POST /{any prefix}/{method}` answers a WCS
//! hook (the last path segment is the method), `GET /healthz` and `GET /readyz` report health.
//! Malformed input gets a precise JSON error ([`ApiError`]): a wrong content type (415), an
//! oversized body (413), a body that is not JSON or not an object (400), a path without a
//! method (404). Every answer carries `X-Hookgate-Generation: <tenant>/<generation>`.
//! [`admin_router`] serves `/healthz`, `/readyz`, `/metrics`, `GET /api/policies` and
//! `POST /api/reload`, behind [`AdminAccess`] (Host, Origin and bearer-token checks). [`serve`]
//! runs a router until a shutdown signal, finishing in-flight hooks, with every connection
//! bounded in time and their number capped ([`ConnectionLimits`]).
//!
//! [`ServerConfig`] is the one resolved configuration (file, then variables, then flags);
//! [`Server`] is the composition root: [`Server::from_config`] builds and binds everything,
//! [`Server::run`] serves until a shutdown signal.

mod admin;
mod client_text;
mod config;
mod connections;
mod decision_log;
mod effects;
mod error;
mod hooks;
mod metrics;
mod otlp_client;
mod server;
mod server_error;
mod service_metrics;
mod state;
mod traces;

pub use admin::AdminAccess;
pub use config::{
    AdminConfig, ConfigIssue, DEFAULT_LISTEN, DEFAULT_SHUTDOWN_GRACE, DecisionLogConfig, ListenerConfig, LogConfig,
    Overrides, ServerConfig,
};
pub use connections::{
    ConnectionLimits, DEFAULT_ADMIN_MAX_CONNECTIONS, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
};
pub use decision_log::{DecisionLog, DecisionTarget};
pub use effects::Effects;
pub use error::ApiError;
pub use hooks::GENERATION_HEADER;
pub use server::{Server, admin_access};
pub use server_error::ServerError;
pub use state::AppState;
pub use traces::{NO_TENANT, Traces, TracesError, TracesLayer, TracingConfig};

use axum::Router;
use axum::routing::{get, post};
use std::future::Future;
use std::sync::Arc;
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

/// The admin listener's routes: health, readiness, metrics, policy status and forced reload,
/// behind `access` (every route but `GET /healthz`).
pub fn admin_router(state: AppState, access: AdminAccess) -> Router {
    Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(admin::metrics))
        .route("/api/policies", get(admin::policies))
        .route("/api/reload", post(admin::reload))
        .fallback(hooks::not_found)
        .layer(axum::middleware::from_fn_with_state(Arc::new(access), admin::guard))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish (idle keep-alive connections are closed).
///
/// HTTP/1.1 only; every connection is bounded in time and their number is capped as `limits`
/// says (see [`ConnectionLimits`]); connections refused at the cap are counted in `state`'s
/// `hookgate_connections_refused_total{listener}`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refused = state.metrics.connections_refused(limits.listener);
    connections::serve(listener, router, limits, refused, shutdown).await
}
