//! The admin listener: health, readiness, metrics and the policy status API.

use crate::error::json_response;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookgate_registry::TenantStatus;
use serde_json::{Value, json};
use std::time::SystemTime;

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// `GET /readyz`: ready when every tenant folder has a loaded generation. In a fleet, also
/// reports whether Redis answers (`cluster`), without making readiness depend on it: every
/// instance shares the one Redis, and hooks are answered (by their fallbacks) without it.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let statuses = state.policies.statuses();
    let waiting: Vec<&str> =
        statuses.iter().filter(|tenant| tenant.generation == 0).map(|tenant| tenant.tenant.as_str()).collect();
    let ready = state.policies.ready();
    let mut body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "tenants": statuses.len(),
        "without_generation": waiting,
    });
    if let Some(bus) = &state.effects.bus {
        let up = |up: bool| if up { "up" } else { "down" };
        let health = state.services.state.health().await;
        body["cluster"] = json!({"state": up(health.up), "events": up(bus.stats().connected)});
    }
    json_response(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body.to_string())
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let health = match &state.effects.bus {
        Some(_) => Some(state.services.state.health().await),
        None => None,
    };
    let mut response = state.metrics.render(&state.policies, health).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// `GET /api/policies`: every tenant with its generation, policies, digests and last reload.
pub(crate) async fn policies(State(state): State<AppState>) -> Response {
    let tenants: Vec<Value> = state.policies.statuses().iter().map(tenant_json).collect();
    json_response(StatusCode::OK, json!({ "tenants": tenants }).to_string())
}

/// `POST /api/reload`: rebuilds every tenant now, then reports like `GET /api/policies`.
pub(crate) async fn reload(State(state): State<AppState>) -> Response {
    state.policies.reload_all().await;
    policies(State(state)).await
}

fn tenant_json(status: &TenantStatus) -> Value {
    json!({
        "tenant": status.tenant,
        "generation": status.generation,
        "loaded_at": status.loaded_at.map(time),
        "policies": status.policies.iter().map(|policy| json!({
            "name": policy.name,
            "module": policy.module,
            "digest": policy.digest.as_ref().map(|digest| format!("sha256:{digest}")),
            "reuse": policy.reuse,
            "error": policy.error,
        })).collect::<Vec<_>>(),
        "last_reload": status.last_reload.as_ref().map(|outcome| json!({
            "at": time(outcome.at),
            "outcome": if outcome.error.is_none() { "ok" } else { "failed" },
            "generation": outcome.generation,
            "error": outcome.error,
        })),
        "reloads": {"ok": status.reloads_ok, "failed": status.reloads_failed},
    })
}

fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
