//! Handlers: one WCS hook, and health.

use crate::error::{ApiError, json_response};
use crate::state::AppState;
use crate::traces;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use hookgate_engine::{Body as AnswerBody, Cause, HookRequest, LogBudget, MAX_LOGGED_METHOD, Refusal, bounded_text};
use std::future::Future as _;
use std::sync::LazyLock;
use std::task::Poll;
use std::time::Instant;
use tracing::{Instrument as _, Span};

/// Lines a second about hooks that failed authentication; the rest are counted and reported
/// with the next line written.
static UNAUTHENTICATED_LOG: LazyLock<LogBudget> = LazyLock::new(|| LogBudget::new(10));

/// Time a client gets to send the whole body once its headers are in.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `<tenant>/<generation>` of the tenant generation that answered.
pub const GENERATION_HEADER: HeaderName = HeaderName::from_static("x-hookgate-generation");

/// `POST /{prefix…}/{method}`: decides one hook, in its trace's root span when traces are on.
pub(crate) async fn hook(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let method = path.rsplit('/').next().unwrap_or_default();
    let span = traces::hook_span(method, &headers);
    let answered = decide_hook(&state, method, &headers, body, &span).instrument(span.clone()).await;
    if !span.is_disabled() {
        let status = answered.as_ref().map_or_else(ApiError::status, Response::status);
        span.record("http.response.status_code", status.as_u16());
    }
    answered
}

/// Decides one hook of `method`: the answer, its metrics and logs, then its effects.
async fn decide_hook(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    body: Body,
    span: &Span,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let received_ms = hookgate_engine::now_ms();
    if method.is_empty() {
        return Err(ApiError::NoMethod);
    }
    check_content_type(headers)?;
    let body = read_body(body, headers, state.body_limit).await?;
    let tenants = state.policies.tenants().load();
    let mut decision = tenants
        .decide(
            HookRequest {
                method,
                body: &body,
                authorization: headers.get(header::AUTHORIZATION).map(|value| value.as_bytes()),
                received_ms,
            },
            &state.services,
        )
        .await?;
    drop(tenants);
    traces::record_decision(span, &decision);
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.record(&decision, decision.canonical.unwrap_or("other"), seconds);
    if let Some(log) = &state.decisions
        && !log.write(&decision, method, (seconds * 1e6) as u64)
    {
        state.metrics.decision_log_dropped.inc();
    }
    // Values a client chose (the method, what the note repeats) are logged escaped (`?`) and cut.
    let logged_method = bounded_text(method, MAX_LOGGED_METHOD);
    if decision.refusal == Some(Refusal::Unauthenticated) {
        if let Some(held_back) = UNAUTHENTICATED_LOG.take() {
            tracing::warn!(
                tenant = %decision.tenant, method = ?logged_method, status = decision.status,
                reason = decision.note.as_deref().unwrap_or(""), held_back,
                "hook refused: unauthenticated"
            );
        }
    } else {
        tracing::debug!(
            tenant = %decision.tenant, method = ?logged_method, kind = %decision.kind, status = decision.status,
            outcome = decision.outcome().as_str(), fallback = decision.fallback.map_or("", Cause::as_str),
            note = ?decision.note.as_deref().unwrap_or(""), "hook answered"
        );
    }
    let effects = traces::effects_span();
    let carried = effects.in_scope(|| decision.carry_out(method, &body, &*state.effects));
    if !effects.is_disabled() {
        effects.record("hookgate.events", carried.events);
        effects.record("hookgate.send_data.queued", carried.send_data);
    }
    let status = StatusCode::from_u16(decision.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match decision.body {
        AnswerBody::Echo => json_response(status, body),
        AnswerBody::Json(bytes) => json_response(status, bytes),
    };
    if !decision.tenant.is_empty() {
        // Which generation of which tenant answered: for operators tracing a reload.
        if let Ok(value) = HeaderValue::from_str(&format!("{}/{}", decision.tenant, decision.generation)) {
            response.headers_mut().insert(GENERATION_HEADER, value);
        }
    }
    Ok(response)
}

/// `POST /`: a hook without a method.
pub(crate) async fn no_method() -> ApiError {
    ApiError::NoMethod
}

/// Any other route.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
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
    let mut read = std::pin::pin!(axum::body::to_bytes(body, limit));
    // A hook's body usually came in with its headers: read at once, it needs no timer.
    let read = match std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
        Poll::Ready(read) => read,
        Poll::Pending => tokio::time::timeout(BODY_READ_TIMEOUT, read)
            .await
            .map_err(|_| ApiError::BodyTimeout(BODY_READ_TIMEOUT.as_secs()))?,
    };
    read.map_err(|err| {
        let too_large = std::error::Error::source(&err)
            .is_some_and(|source| source.downcast_ref::<http_body_util::LengthLimitError>().is_some());
        if too_large { ApiError::TooLarge(limit) } else { ApiError::BodyRead(err.to_string()) }
    })
}
