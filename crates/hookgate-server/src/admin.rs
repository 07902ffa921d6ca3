//! The admin listener: health, readiness, metrics and the policy status API, behind
//! [`AdminAccess`].

use crate::error::{ApiError, json_response};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookgate_registry::TenantStatus;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use subtle::ConstantTimeEq as _;

/// Who may use the admin listener. Every route but `GET /healthz` is checked, in this order:
/// the `Host` is a loopback name or one of `allowed_hosts` (else 421: DNS rebinding), the
/// request comes from no web page of another origin (`Origin`, `Sec-Fetch-Site`; else 403),
/// it carries the bearer `token` when one is set (else 401), and `POST /api/reload` without
/// the token needs `Content-Type: application/json` (else 415), so no web page can send it.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    /// The bearer token (`[admin] token_file`), if any.
    pub token: Option<String>,
    /// Host names accepted besides `localhost` and loopback addresses (`[admin] allowed_hosts`),
    /// compared without their port, ignoring case.
    pub allowed_hosts: Vec<String>,
}

impl AdminAccess {
    /// Why `request` may not go further, if it may not.
    fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        let text = |name: header::HeaderName| headers.get(name).map(|value| String::from_utf8_lossy(value.as_bytes()));
        let host = text(header::HOST).unwrap_or_default();
        if !self.is_own_host(&host) {
            return Err(ApiError::MisdirectedHost(host.into_owned()));
        }
        if let Some(site) = headers.get("sec-fetch-site").map(|value| String::from_utf8_lossy(value.as_bytes()))
            && !matches!(&*site, "same-origin" | "none")
        {
            return Err(ApiError::CrossOrigin(format!("Sec-Fetch-Site: {site}")));
        }
        if let Some(origin) = text(header::ORIGIN) {
            let own = ["http://", "https://"]
                .iter()
                .any(|scheme| origin.strip_prefix(scheme).is_some_and(|rest| rest.eq_ignore_ascii_case(&host)));
            if !own {
                return Err(ApiError::CrossOrigin(format!("Origin: {origin}")));
            }
        }
        if let Some(token) = &self.token {
            let given = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes).unwrap_or_default();
            let given = match given.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &given[7..],
                _ => {
                    return Err(ApiError::Unauthorized(
                        "missing bearer token: the admin API needs Authorization: Bearer <the token of [admin] token_file>",
                    ));
                }
            };
            if !bool::from(given.ct_eq(token.as_bytes())) {
                return Err(ApiError::Unauthorized("wrong bearer token for the admin API"));
            }
        } else if method == Method::POST && path == "/api/reload" {
            let json = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(|value| {
                value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
            });
            if !json {
                return Err(ApiError::ReloadContentType);
            }
        }
        Ok(())
    }

    /// Whether `host` (a `Host` header: name or IP, with any port) names this listener.
    fn is_own_host(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((ip, rest)) if rest.is_empty() || rest.starts_with(':') => ip,
                _ => return false,
            },
            None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
        };
        if name.is_empty() {
            return false;
        }
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            || self.allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(name))
    }
}

/// The middleware of the admin listener: [`AdminAccess`] for every route but `GET /healthz`.
pub(crate) async fn guard(State(access): State<Arc<AdminAccess>>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/healthz"
        && let Err(refused) = access.check(request.method(), request.uri().path(), request.headers())
    {
        return refused.into_response();
    }
    next.run(request).await
}

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
