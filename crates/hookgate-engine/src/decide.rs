//! One hook through its tenant, answered as WCS expects: the request path in one place.
//!
//! 1. `hookgate.toml`'s `[auth]` on the raw request; then the one parse ([`Hook::parse`]).
//! 2. The route: the appKey's tenant, `_default`, or a refusal; the tenant's `[auth]`; a body
//!    that does not fit its method is refused ([`refusal`](crate::refusal)).
//! 3. The chain ([`chain::run`]), then the answer ([`answer`]), a pure function of the kind,
//!    `on_error`, REST-API initiation and what the chain said.
//! 4. The session's bookkeeping: keys ended on `DISCONNECTED`/`FAILED`, the session's
//!    tenant recorded for `send-data`, and `send-data` to other tenants' sessions dropped.

use crate::answer::{Answer, Body, Said, answer, append_field, error_body};
use crate::chain::{self, End};
use crate::decision::{Cause, Decision};
use crate::hook::{BadHook, Hook, HookRequest};
use crate::refusal::{self, Checked};
use crate::tenant::{Route, Tenant, TenantSet};
use hookgate_config::AuthConfig;
use hookgate_protocol::{MethodKind, OnError};
use hookgate_runtime::{Effect, StateBackend};
use serde_json::Value;
use std::sync::Arc;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

/// What every hook goes through and what the capabilities of every tenant's policies reach.
#[derive(Clone)]
pub struct Services {
    /// The `state` backend.
    pub state: Arc<dyn StateBackend>,
    /// The authentication every hook must pass before it is routed (`hookgate.toml`'s
    /// `[auth]`); empty: none.
    pub auth: Arc<AuthConfig>,
}

impl Services {
    /// Services of one process: the in-process state backend with its default limits, and no
    /// server-wide hook authentication.
    pub fn in_process() -> Services {
        Services::new(hookgate_state::MemoryState::new(hookgate_state::MemoryStateConfig::default()))
    }

    /// Services around `state`, with no server-wide hook authentication.
    pub fn new(state: Arc<dyn StateBackend>) -> Services {
        Services { state, auth: Arc::new(AuthConfig::default()) }
    }
}

impl TenantSet {
    /// Answers one hook. `Err` is malformed input (400); everything else is a [`Decision`].
    ///
    /// `hookgate.toml`'s `[auth]` ([`Services::auth`]) is checked first, before the body is
    /// parsed or routed, then the tenant's own `[auth]`: a hook that fails either is answered
    /// 401/403 and has no effect.
    pub async fn decide(&self, request: HookRequest<'_>, services: &Services) -> Result<Decision, BadHook> {
        let span = tracing::info_span!(target: crate::TRACE_TARGET, "decide",
            hookgate.tenant = Empty, hookgate.generation = Empty);
        self.decide_in(request, services, &span).instrument(span.clone()).await
    }

    /// [`TenantSet::decide`] within its span, `span`.
    async fn decide_in(&self, request: HookRequest<'_>, services: &Services, span: &Span) -> Result<Decision, BadHook> {
        let method = hookgate_protocol::Method::classify(request.method);
        if let Err(failure) = crate::auth::check(&services.auth, request.authorization, request.body) {
            return Ok(refusal::unauthenticated(failure, "hookgate.toml [auth]", method));
        }
        let hook = Hook::parse(request, &self.matcher_roots)?;
        let tenant = match self.route(&hook.app_key) {
            Route::Tenant(tenant) => tenant,
            Route::Pending => {
                let reason = format!("tenant '{}' has no loaded generation (see GET /api/policies)", hook.app_key);
                return Ok(refusal::unrouted(&hook, reason, Cause::NotLoaded));
            }
            Route::Missing => {
                let reason = format!("no policy tree for appKey '{}' and no _default tenant", hook.app_key);
                return Ok(refusal::unrouted(&hook, reason, Cause::NoTenant));
            }
        };
        span.record("hookgate.tenant", tenant.name.as_str());
        span.record("hookgate.generation", tenant.generation);
        if let Err(failure) = crate::auth::check(&tenant.manifest.auth, request.authorization, request.body) {
            return Ok(refusal::forged(tenant, hook, failure));
        }
        if let Some(reason) = refusal::misfit(&hook) {
            return Ok(refusal::mismatch(tenant, &hook, reason));
        }
        let mut decision = decide_by_chain(tenant, &hook, services).await;
        let session = tracing::info_span!(target: crate::TRACE_TARGET, "session",
            hookgate.session.ended = Empty, hookgate.session.bound = Empty, hookgate.send_data.dropped = Empty);
        track_session(tenant, &hook, &decision, services, &session).instrument(session.clone()).await;
        // The hook's fields move into the answer's record: nothing reads the hook after this.
        (decision.session_id, decision.node_id, decision.app_key) = (hook.session_id, hook.node_id, hook.app_key);
        contain_send_data(&tenant.name, &mut decision, services).instrument(session.clone()).await;
        if decision.dropped_send_data > 0 {
            session.record("hookgate.send_data.dropped", decision.dropped_send_data);
        }
        Ok(decision)
    }
}

/// Runs the chain and answers by its end.
async fn decide_by_chain(tenant: &Tenant, hook: &Hook<'_>, services: &Services) -> Decision {
    let kind = hook.method.kind;
    let rule = tenant.rule(hook.method.canonical);
    let on_error = rule.map_or(OnError::Log, |rule| rule.on_error);
    let run = chain::run(tenant, rule, hook, &services.state).await;
    let rest_api = kind != MethodKind::Connect
        && tenant.manifest.rest_api_initiated.iter().any(|matcher| matcher.matches(&hook.matched_fields));
    let span = tracing::info_span!(target: crate::TRACE_TARGET, "answer",
        hookgate.answer = Empty, http.response.status_code = Empty);
    let decision = span.in_scope(|| answer_by_end(tenant, hook, on_error, rest_api, run, &span));
    span.record("http.response.status_code", decision.status);
    decision
}

/// The answer to `hook` once its chain ran (`run`), recording its form on `span`.
fn answer_by_end(
    tenant: &Tenant,
    hook: &Hook<'_>,
    on_error: OnError,
    rest_api: bool,
    run: chain::ChainRun,
    span: &Span,
) -> Decision {
    let kind = hook.method.kind;
    let mut decision = Decision {
        tenant: tenant.name.clone(),
        generation: tenant.generation,
        runs: run.runs,
        ..Decision::new(kind, hook.method.catalogued)
    };
    let (said, policy, failure) = match &run.end {
        End::Allowed(Some(_)) => (Said::Override, None, None),
        End::Allowed(None) => (Said::Allow, None, None),
        End::Denied { policy, status, .. } => (Said::Deny(*status), Some(policy.clone()), None),
        End::Failed { policy, cause, message } => (Said::Failure, policy.clone(), Some((*cause, message.clone()))),
        End::Malformed(bad) => {
            malformed(&mut decision, bad);
            return decision;
        }
    };
    if let Some((cause, message)) = failure {
        if let Some(held_back) = tenant.failure_log.take() {
            // The method is a client-chosen URL segment: logged escaped and cut, as the listener logs it.
            let method = crate::bounded_text(hook.method.name, crate::MAX_LOGGED_METHOD);
            tracing::warn!(tenant = %tenant.name, method = ?method, policy = policy.as_deref().unwrap_or(""),
                cause = cause.as_str(), held_back, "{message}");
        }
        decision.fallback = Some(cause);
        decision.note = Some(message);
    }
    let form = answer(kind, on_error, rest_api, said);
    span.record("hookgate.answer", form.as_str());
    match (form, run.end) {
        (Answer::Pass, End::Allowed(doc)) => {
            decision.effects = run.effects;
            match allowed_body(tenant, hook, doc) {
                Ok(body) => decision.body = body,
                Err(bad) => malformed(&mut decision, &bad),
            }
        }
        (Answer::Echo, end) => {
            if let End::Allowed(_) = end {
                decision.effects = run.effects;
            }
            decision.note = match end {
                End::Allowed(_) if rest_api => Some("REST-API-initiated hook: answered with the received body".into()),
                End::Denied { policy, status, reason } => {
                    let what = if rest_api { "a REST-API-initiated hook" } else { "an event" };
                    Some(format!("policy '{policy}' denied {what} ({status}: {reason}); not obeyed"))
                }
                _ => decision.note,
            };
        }
        (Answer::Refuse(status), end) => {
            let reason = match &end {
                End::Denied { reason, .. } => reason.as_str(),
                End::Failed { message, .. } => message.as_str(),
                _ => "an event cannot be changed: it already happened",
            };
            decision.status = status;
            decision.body = error_body(reason, policy.as_deref());
        }
        (Answer::Pass, _) => unreachable!("only an allowed chain passes"),
    }
    decision
}

/// The body of an allowed hook: the received bytes, the patched document, and on `connect`
/// the `restClientConfig` unless a policy set one.
fn allowed_body(
    tenant: &Tenant,
    hook: &Hook<'_>,
    doc: Option<serde_json::Map<String, Value>>,
) -> Result<Body, BadHook> {
    let connect = hook.method.kind == MethodKind::Connect;
    Ok(match doc {
        Some(mut doc) => {
            if connect && !doc.contains_key("restClientConfig") {
                let config = serde_json::from_str(&tenant.rest_client_config).unwrap_or(Value::Null);
                doc.insert("restClientConfig".into(), config);
            }
            Body::Json(Value::Object(doc).to_string().into_bytes())
        }
        None if connect => {
            let received = hook.document()?;
            Body::Json(append_field(hook.request.body, &received, "restClientConfig", &tenant.rest_client_config))
        }
        None => Body::Echo,
    })
}

/// Answers a body only a full parse refuses: 400, like any malformed body.
fn malformed(decision: &mut Decision, bad: &BadHook) {
    let reason = bad.to_string();
    decision.status = 400;
    decision.body = error_body(&reason, None);
    decision.note = Some(reason);
}

/// After the chain (so that its policies still see the session's keys): a session that ended
/// loses its keys; one that connected is recorded under its tenant, for `send-data`.
async fn track_session(tenant: &Tenant, hook: &Hook<'_>, decision: &Decision, services: &Services, span: &Span) {
    let session = &hook.session_id;
    let status =
        (Checked::of(hook.method) == Some(Checked::ConnectionStatus)).then_some(hook.status.as_deref()).flatten();
    if matches!(status, Some("DISCONNECTED" | "FAILED")) {
        match services.state.end_session(&tenant.name, session).await {
            Ok(_) => span.record("hookgate.session.ended", true),
            Err(err) => {
                let session = crate::bounded_text(session, 256);
                tracing::warn!(tenant = %tenant.name, session = ?session, "session keys not deleted: {err}");
                span.record("hookgate.session.ended", false)
            }
        };
    }
    // Which tenant the session connected under (an allowed connect, or WCS's word).
    let connected =
        if hook.method.kind == MethodKind::Connect { decision.status == 200 } else { status == Some("ESTABLISHED") };
    if connected && !session.is_empty() {
        match services.state.bind_session(&tenant.name, session).await {
            Ok(()) => span.record("hookgate.session.bound", true),
            Err(err) => {
                let session = crate::bounded_text(session, 256);
                tracing::warn!(tenant = %tenant.name, session = ?session, "session not recorded for send-data: {err}");
                span.record("hookgate.session.bound", false)
            }
        };
    }
}

/// Lines a second about `send-data` messages dropped for another tenant's session.
static FOREIGN_SEND_LOG: std::sync::LazyLock<crate::LogBudget> = std::sync::LazyLock::new(|| crate::LogBudget::new(10));

/// Drops the `send-data` messages of `decision` whose session did not connect under `tenant`
/// (or cannot be told now), counting them in [`Decision::dropped_send_data`].
async fn contain_send_data(tenant: &str, decision: &mut Decision, services: &Services) {
    if !decision.effects.iter().any(|effect| matches!(effect, Effect::SendData { .. })) {
        return;
    }
    let mut kept = Vec::with_capacity(decision.effects.len());
    for effect in std::mem::take(&mut decision.effects) {
        if let Effect::SendData { session_id, .. } = &effect {
            let owner = services.state.session_tenant(session_id).await;
            if !matches!(&owner, Ok(Some(owner)) if owner == tenant) {
                decision.dropped_send_data += 1;
                if let Some(held_back) = FOREIGN_SEND_LOG.take() {
                    let session = crate::bounded_text(session_id, 256);
                    let owner = match owner {
                        Ok(Some(_)) => "another tenant".to_owned(),
                        Ok(None) => "no tenant".to_owned(),
                        Err(err) => format!("unknown ({err})"),
                    };
                    tracing::warn!(%tenant, session = ?session, held_back,
                        "send-data message dropped: the session connected under {owner}");
                }
                continue;
            }
        }
        kept.push(effect);
    }
    decision.effects = kept;
}
