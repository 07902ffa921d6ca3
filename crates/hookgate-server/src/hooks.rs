//! Handlers: one WCS hook, and health.

use crate::error::{ApiError, json_response};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use hookgate_engine::{Body as AnswerBody, HookRequest};
use std::time::{SystemTime, UNIX_EPOCH};

/// `POST /{prefix…}/{method}`: decides one hook.
pub(crate) async fn hook(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let method = path.rsplit('/').next().unwrap_or_default();
    if method.is_empty() {
        return Err(ApiError::NoMethod);
    }
    check_content_type(&headers)?;
    let body = read_body(body, &headers, state.body_limit).await?;
    let tenants = state.tenants.load();
    let decision = tenants
        .decide(HookRequest {
            method,
            body: &body,
            authorization: headers.get(header::AUTHORIZATION).map(|value| value.as_bytes()),
            received_ms,
        })
        .await?;
    tracing::debug!(
        tenant = %decision.tenant, method, kind = %decision.kind, status = decision.status,
        fallback = decision.fallback.unwrap_or(""), note = decision.note.as_deref().unwrap_or(""),
        "hook answered"
    );
    let status = StatusCode::from_u16(decision.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(match decision.body {
        AnswerBody::Echo => json_response(status, body),
        AnswerBody::Json(bytes) => json_response(status, bytes),
    })
}

/// `POST /`: a hook without a method.
pub(crate) async fn no_method() -> ApiError {
    ApiError::NoMethod
}

/// Any other route.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// `GET /readyz`: ready when at least one tenant is loaded.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let tenants = state.tenants.load().iter().count();
    if tenants > 0 {
        json_response(StatusCode::OK, format!(r#"{{"status":"ready","tenants":{tenants}}}"#))
    } else {
        json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"not ready","tenants":0}"#)
    }
}

/// Hooks are JSON: `application/json`, with or without parameters such as `charset`.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::ContentType("none".into()));
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::ContentType(text.into_owned()))
    }
}

/// Reads the body, refusing it early from `Content-Length` and again while streaming.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let too_large =
            std::error::Error::source(&err).is_some_and(|source| source.to_string().contains("length limit exceeded"));
        if too_large { ApiError::TooLarge(limit) } else { ApiError::BodyRead(err.to_string()) }
    })
}
