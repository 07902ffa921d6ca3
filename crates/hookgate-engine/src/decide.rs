//! One hook through its tenant's chain, answered as WCS expects (docs/design/request-path.md).

use crate::auth::AuthFailure;
use crate::tenant::{LoadedPolicy, Route, Tenant, TenantSet};
use hookgate_config::AuthConfig;
use hookgate_protocol::fallback::{FallbackAnswer, fallback};
use hookgate_protocol::patch;
use hookgate_protocol::{Method, MethodKind, OnError};
use hookgate_runtime::{Grants, HookInput, Outgoing, StateAccess, StateBackend, Verdict};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Arc;

/// A hook as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct HookRequest<'a> {
    /// The method: the last segment of the URL path.
    pub method: &'a str,
    /// The body bytes, exactly as received.
    pub body: &'a [u8],
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a [u8]>,
    /// Reception time, ms since the Unix epoch.
    pub received_ms: u64,
}

/// The body of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The received bytes, untouched.
    Echo,
    /// A new JSON document.
    Json(Vec<u8>),
}

/// What one policy of the chain did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRun {
    /// The policy name.
    pub policy: String,
    /// `allow`, `deny`, `override`, or the failure cause (`trap`, `deadline`, `not-loaded`, …).
    pub outcome: &'static str,
    /// How long the evaluation took, in microseconds.
    pub micros: u64,
}

/// Why a hook was refused before any policy ran. A refused hook has no effect at all: no
/// chain, no state change, no session end, no WebSocket event, no `send-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It failed hook authentication: `hookgate.toml`'s `[auth]` or its tenant's (401/403).
    Unauthenticated,
    /// No tenant can decide it: no folder for its appKey and no `_default`, or a folder
    /// without a loaded generation yet.
    Unrouted,
    /// Its body does not fit its method (e.g. a stream's body posted as a
    /// `ConnectionStatusEvent`): a direct method is answered 400, an event is echoed.
    Mismatch,
}

/// The answer to one hook and how it was reached.
#[derive(Debug, Clone)]
pub struct Decision {
    /// HTTP status for WCS.
    pub status: u16,
    /// The body for WCS.
    pub body: Body,
    /// The tenant that decided (`_default` for appKeys without a folder); empty if none.
    pub tenant: String,
    /// The generation of that tenant that decided (0 if none).
    pub generation: u64,
    /// The body's `sessionId` (empty if none, or if the hook failed authentication).
    pub session_id: String,
    /// The method's kind.
    pub kind: MethodKind,
    /// The canonical method name when the method is in the WCS catalogue.
    pub canonical: Option<&'static str>,
    /// The policies that ran, in order.
    pub runs: Vec<PolicyRun>,
    /// The failure cause when the answer is a fallback.
    pub fallback: Option<&'static str>,
    /// A note for the log: the failure text, or why a deny was not obeyed.
    pub note: Option<String>,
    /// The body's `appKey` (empty if none, or if the hook failed authentication).
    pub app_key: String,
    /// Notifications and messages the policies queued, to carry out once WCS has its answer.
    pub outgoing: Vec<Outgoing>,
    /// Why the hook was refused before its chain; `None` for a hook its tenant decided.
    pub refusal: Option<Refusal>,
    /// `send-data` messages dropped because their session did not connect under this tenant.
    pub dropped_send_data: u32,
}

impl Decision {
    /// A decision of `kind` before any policy ran: 200, echo, no tenant.
    fn new(kind: MethodKind) -> Decision {
        Decision {
            status: 200,
            body: Body::Echo,
            tenant: String::new(),
            generation: 0,
            session_id: String::new(),
            kind,
            canonical: None,
            runs: Vec::new(),
            fallback: None,
            note: None,
            app_key: String::new(),
            outgoing: Vec::new(),
            refusal: None,
            dropped_send_data: 0,
        }
    }

    /// A hook that failed authentication (`by`: whose `[auth]`): 401 or 403, whatever its kind.
    fn unauthenticated(failure: AuthFailure, by: &str, kind: MethodKind) -> Decision {
        Decision {
            status: failure.status(),
            body: error_body(failure.reason(), None),
            note: Some(format!("{by}: {}", failure.reason())),
            refusal: Some(Refusal::Unauthenticated),
            ..Decision::new(kind)
        }
    }

    /// What became of the hook, as metrics and the decision log name it: `unauthenticated`,
    /// `mismatch`, `fallback`, `deny`, `override` or `allow`.
    pub fn outcome(&self) -> &'static str {
        match self.refusal {
            Some(Refusal::Unauthenticated) => "unauthenticated",
            Some(Refusal::Mismatch) => "mismatch",
            _ if self.fallback.is_some() => "fallback",
            _ if self.status != 200 => "deny",
            _ if self.runs.last().map(|run| run.outcome) == Some("override") => "override",
            _ => "allow",
        }
    }
}

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

/// Malformed input: answered 400 before any tenant is involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHook {
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotObject,
    /// The body is not UTF-8 (JSON text must be).
    #[error("body is not valid UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The body is a JSON object, but its `appKey` or `sessionId` is unusable (not a string,
    /// given twice).
    #[error("body has an unusable appKey or sessionId: {0}")]
    BadEnvelope(String),
}

/// The two envelope fields hookgate needs; the rest of the body is validated and skipped.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "appKey", borrow, default)]
    app_key: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
}

/// Parses the envelope: the one full JSON pass of the hot path (allow answers never re-serialise).
/// Serde skips unknown string fields without checking their UTF-8, so the body is checked first.
pub(crate) fn parse_envelope(body: &[u8]) -> Result<(String, String), BadHook> {
    std::str::from_utf8(body).map_err(|err| BadHook::NotUtf8(err.valid_up_to()))?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        // Tell "not JSON" from "JSON but not an object".
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => BadHook::NotObject,
            Err(err) => BadHook::NotJson(err.to_string()),
        });
    }
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|err| match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => BadHook::BadEnvelope(err.to_string()),
            Err(_) => BadHook::NotJson(err.to_string()),
        })?;
    let text = |field: Option<Cow<'_, str>>| field.map(Cow::into_owned).unwrap_or_default();
    Ok((text(envelope.app_key), text(envelope.session_id)))
}

impl TenantSet {
    /// Answers one hook. `Err` is malformed input (400); everything else is a [`Decision`].
    ///
    /// `hookgate.toml`'s `[auth]` ([`Services::auth`]) is checked first, before the body is
    /// parsed or routed, then the tenant's own `[auth]`: a hook that fails either is answered
    /// 401/403 and has no effect.
    pub async fn decide(&self, request: HookRequest<'_>, services: &Services) -> Result<Decision, BadHook> {
        let method = Method::classify(request.method);
        if let Err(failure) = crate::auth::check(&services.auth, request.authorization, request.body) {
            let mut decision = Decision::unauthenticated(failure, "hookgate.toml [auth]", method.kind);
            decision.canonical = method.catalogued;
            return Ok(decision);
        }
        let (app_key, session_id) = parse_envelope(request.body)?;
        let mut decision = self.route_and_run(request, method, &app_key, session_id, services).await;
        decision.canonical = method.catalogued;
        if decision.refusal != Some(Refusal::Unauthenticated) {
            decision.app_key = app_key;
        }
        Ok(decision)
    }

    async fn route_and_run(
        &self,
        request: HookRequest<'_>,
        method: Method<'_>,
        app_key: &str,
        session_id: String,
        services: &Services,
    ) -> Decision {
        let tenant = match self.route(app_key) {
            Route::Tenant(tenant) => tenant,
            Route::Pending => {
                let reason = format!("tenant '{app_key}' has no loaded generation (see GET /api/policies)");
                return unrouted(reason, method.kind, session_id, "not-loaded");
            }
            Route::Missing => {
                let reason = format!("no policy tree for appKey '{app_key}' and no _default tenant");
                return unrouted(reason, method.kind, session_id, "no-tenant");
            }
        };
        if let Err(failure) = crate::auth::check(&tenant.manifest.auth, request.authorization, request.body) {
            let mut decision = Decision::unauthenticated(failure, "tenant [auth]", method.kind);
            decision.tenant = tenant.name.clone();
            decision.generation = tenant.generation;
            return decision;
        }
        let shape = Shape::of(method, request.body);
        if let Some(misfit) = shape.as_ref().and_then(|shape| shape.misfit(method, &session_id)) {
            return mismatch(tenant, method, session_id, misfit);
        }
        let chain = Chain { tenant, method, app_key, session_id: &session_id, request, services };
        let mut decision = chain.run().await;
        let status = shape.as_ref().and_then(Shape::connection_status);
        // After the chain, so that its policies still see the session's keys.
        if matches!(status, Some("DISCONNECTED" | "FAILED"))
            && let Err(err) = services.state.end_session(&tenant.name, &session_id).await
        {
            let session = crate::bounded_text(&session_id, 256);
            tracing::warn!(tenant = %tenant.name, session = ?session, "session keys not deleted: {err}");
        }
        // Which tenant the session connected under, for send-data (an allowed connect, or WCS's word).
        let connected =
            if method.kind == MethodKind::Connect { decision.status == 200 } else { status == Some("ESTABLISHED") };
        if connected
            && !session_id.is_empty()
            && let Err(err) = services.state.bind_session(&tenant.name, &session_id).await
        {
            let session = crate::bounded_text(&session_id, 256);
            tracing::warn!(tenant = %tenant.name, session = ?session, "session not recorded for send-data: {err}");
        }
        contain_send_data(&tenant.name, &mut decision, services).await;
        decision.session_id = session_id;
        decision
    }
}

/// Lines a second about `send-data` messages dropped for another tenant's session.
static FOREIGN_SEND_LOG: crate::LogBudget = crate::LogBudget::new(10);

/// Drops the `send-data` messages of `decision` whose session did not connect under `tenant`
/// (or cannot be told now), counting them in [`Decision::dropped_send_data`].
async fn contain_send_data(tenant: &str, decision: &mut Decision, services: &Services) {
    if !decision.outgoing.iter().any(|effect| matches!(effect, Outgoing::SendData { .. })) {
        return;
    }
    let mut kept = Vec::with_capacity(decision.outgoing.len());
    for effect in std::mem::take(&mut decision.outgoing) {
        if let Outgoing::SendData { session_id, .. } = &effect {
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
    decision.outgoing = kept;
}

/// The fields that tell which method a body was made for. Read for the methods whose bodies
/// can be mistaken for another's (a session's or the start of a stream), `None` otherwise.
struct Shape {
    /// The canonical method the body arrived at.
    method: &'static str,
    /// `status`, if a string.
    status: Option<String>,
    /// Whether it has a stream's fields: `mediaSessionId`, or `name` with `published`.
    stream: bool,
}

impl Shape {
    /// Methods whose bodies are checked: the session's own (`connect`,
    /// `ConnectionStatusEvent`) and the direct invocations that start a stream.
    const CHECKED: [&str; 4] = ["connect", "ConnectionStatusEvent", "publishStream", "playStream"];

    /// Statuses of a `StreamStatusEvent` that end a stream: never in a direct invocation,
    /// which carries `PENDING` (docs/protocol/wcs-reference.md §3.6).
    const STREAM_ENDS: [&str; 3] = ["FAILED", "UNPUBLISHED", "STOPPED"];

    fn of(method: Method<'_>, body: &[u8]) -> Option<Shape> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            status: Option<Value>,
            #[serde(rename = "mediaSessionId", default)]
            media_session_id: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            name: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            published: Option<serde::de::IgnoredAny>,
        }
        let canonical = method.catalogued.filter(|name| Self::CHECKED.contains(name))?;
        // A body the envelope parse accepted but this one refuses (duplicate keys) is treated
        // as having none of the fields: the chain's own full parse answers it.
        let fields: Fields = serde_json::from_slice(body).ok()?;
        Some(Shape {
            method: canonical,
            status: match fields.status {
                Some(Value::String(status)) => Some(status),
                _ => None,
            },
            stream: fields.media_session_id.is_some() || (fields.name.is_some() && fields.published.is_some()),
        })
    }

    /// Why the body does not fit its method, if it does not.
    fn misfit(&self, method: Method<'_>, session_id: &str) -> Option<String> {
        let name = method.name;
        match self.method {
            "connect" | "ConnectionStatusEvent" if self.stream => Some(format!(
                "body does not fit method {name}: it has a stream's fields (mediaSessionId, or name and published)"
            )),
            "ConnectionStatusEvent" if session_id.is_empty() => {
                Some(format!("body does not fit method {name}: it has no sessionId"))
            }
            "publishStream" | "playStream" => {
                let status = self.status.as_deref().filter(|status| Self::STREAM_ENDS.contains(status))?;
                Some(format!(
                    "body does not fit method {name}: status {status} ends a stream (a StreamStatusEvent's), \
                     a direct invocation carries PENDING"
                ))
            }
            _ => None,
        }
    }

    /// The `status` of a `ConnectionStatusEvent` that fits its method.
    fn connection_status(&self) -> Option<&str> {
        (self.method == "ConnectionStatusEvent").then_some(self.status.as_deref()).flatten()
    }
}

/// A body that does not fit its method: no chain, no effect; an event is echoed (it happened,
/// whatever its body says), anything else answered 400.
fn mismatch(tenant: &Tenant, method: Method<'_>, session_id: String, reason: String) -> Decision {
    let mut decision = Decision::new(method.kind);
    if method.kind != MethodKind::Event {
        decision.status = 400;
        decision.body = error_body(&reason, None);
    }
    Decision {
        tenant: tenant.name.clone(),
        generation: tenant.generation,
        session_id,
        note: Some(reason),
        refusal: Some(Refusal::Mismatch),
        ..decision
    }
}

/// A hook no tenant can decide: refused, except events, which are echoed; no effect either way.
fn unrouted(reason: String, kind: MethodKind, session_id: String, cause: &'static str) -> Decision {
    let mut decision = Decision::new(kind);
    if kind != MethodKind::Event {
        decision.status = 403;
        decision.body = error_body(&reason, None);
    }
    Decision { session_id, fallback: Some(cause), note: Some(reason), refusal: Some(Refusal::Unrouted), ..decision }
}

/// `{"error": reason, "policy": name}`.
fn error_body(reason: &str, policy: Option<&str>) -> Body {
    let mut body = Map::new();
    body.insert("error".into(), Value::String(reason.to_owned()));
    if let Some(policy) = policy {
        body.insert("policy".into(), Value::String(policy.to_owned()));
    }
    Body::Json(Value::Object(body).to_string().into_bytes())
}

struct Chain<'a> {
    tenant: &'a Arc<Tenant>,
    method: Method<'a>,
    app_key: &'a str,
    session_id: &'a str,
    request: HookRequest<'a>,
    services: &'a Services,
}

/// How the chain ended.
enum Outcome {
    /// Every policy allowed (or overrode); `doc` holds the patched body if anything changed.
    Allowed(Option<Map<String, Value>>, Vec<Outgoing>),
    Denied {
        policy: String,
        status: u16,
        reason: String,
    },
    /// The body passed the envelope parse (which skims the fields it does not need) but a
    /// full parse refuses it (a number out of range, a lone surrogate escape): answered 400.
    Malformed(String),
    /// A policy (or, for `overload`, the tenant) failed.
    Failed {
        policy: Option<String>,
        cause: &'static str,
        message: String,
    },
}

impl Chain<'_> {
    async fn run(self) -> Decision {
        let tenant = self.tenant;
        let rule = tenant.manifest.rule(self.method.canonical);
        let on_error = rule.map_or(OnError::Log, |rule| rule.on_error);
        let chain: &[String] = rule.map_or(&[], |rule| &rule.chain);
        let kind = self.method.kind;
        // Events already happened: whatever a "*" rule declares, none of their fields may change.
        let overwrite: &[String] = match rule {
            Some(rule) if kind != MethodKind::Event => &rule.overwrite,
            _ => &[],
        };

        let mut runs = Vec::with_capacity(chain.len());
        // Past the tenant's concurrency, answer at once by the fallback rules: no unbounded queue.
        let slot = if chain.is_empty() { None } else { tenant.slots.try_acquire().ok() };
        let outcome = if chain.is_empty() || slot.is_some() {
            self.evaluate(chain, overwrite, &mut runs).await
        } else {
            Outcome::Failed {
                policy: None,
                cause: "overload",
                message: format!(
                    "tenant '{}' is overloaded: {} evaluations already running",
                    tenant.name, tenant.manifest.limits.max_concurrent
                ),
            }
        };
        drop(slot);
        // A `connect` is never REST-API-initiated: whatever a matcher says, it is decided by its chain.
        let rest_api =
            kind != MethodKind::Connect && !tenant.manifest.rest_api_initiated.is_empty() && self.rest_api_initiated();

        let mut decision =
            Decision { tenant: tenant.name.clone(), generation: tenant.generation, runs, ..Decision::new(kind) };
        match outcome {
            Outcome::Allowed(doc, outgoing) => {
                decision.outgoing = outgoing;
                if rest_api {
                    decision.note = Some("REST-API-initiated hook: answered with the received body".into());
                } else {
                    match self.allowed_body(doc) {
                        Ok(body) => decision.body = body,
                        Err(reason) => malformed(&mut decision, reason),
                    }
                }
            }
            Outcome::Malformed(reason) => malformed(&mut decision, reason),
            Outcome::Denied { policy, status, reason } => {
                if kind == MethodKind::Event || rest_api {
                    let what = if rest_api { "a REST-API-initiated hook" } else { "an event" };
                    decision.note = Some(format!("policy '{policy}' denied {what} ({status}: {reason}); not obeyed"));
                } else {
                    decision.status = status;
                    decision.body = error_body(&reason, Some(&policy));
                }
            }
            Outcome::Failed { policy, cause, message } => {
                let policy = policy.as_deref();
                tracing::warn!(tenant = %tenant.name, method = self.method.name, policy = policy.unwrap_or(""), cause, "{message}");
                decision.fallback = Some(cause);
                match fallback(kind, on_error) {
                    FallbackAnswer::Refuse(status) if !rest_api => {
                        decision.status = status;
                        decision.body = error_body(&message, policy);
                    }
                    _ => {}
                }
                decision.note = Some(message);
            }
        }
        decision
    }

    async fn evaluate(&self, chain: &[String], overwrite: &[String], runs: &mut Vec<PolicyRun>) -> Outcome {
        let tenant = self.tenant;
        // The payload the next policy sees: the received text until an override changes it.
        let received = String::from_utf8_lossy(self.request.body);
        let mut doc: Option<Map<String, Value>> = None;
        let mut patched: Option<String> = None;
        let mut outgoing = Vec::new();
        // The idempotency key of this delivery's state updates, computed once if needed.
        let mut delivery: Option<[u8; 32]> = None;
        for name in chain {
            let started = std::time::Instant::now();
            let mut record = |outcome| {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                runs.push(PolicyRun { policy: name.clone(), outcome, micros });
            };
            let fail = |cause, message: String| Outcome::Failed { policy: Some(name.clone()), cause, message };
            let policy = match tenant.policies.get(name) {
                Some(LoadedPolicy::Ready(policy)) => policy,
                Some(LoadedPolicy::NotLoaded(reason)) => {
                    record("not-loaded");
                    return fail("not-loaded", format!("policy '{name}' is not loaded: {reason}"));
                }
                None => {
                    record("not-loaded");
                    return fail("not-loaded", format!("policy '{name}' is not configured"));
                }
            };
            let decl = &tenant.manifest.policies[name];
            let settings = &decl.settings;
            let granted = |capability: &str| decl.capabilities.iter().any(|c| c == capability);
            let grants = Grants {
                state: granted("state").then(|| StateAccess {
                    backend: Arc::clone(&self.services.state),
                    tenant: Arc::from(tenant.name.as_str()),
                    hook: *delivery.get_or_insert_with(|| self.delivery_digest()),
                }),
                notify: granted("notify"),
                send_data: granted("send-data"),
            };
            let input = HookInput {
                method: self.method.name,
                kind: self.method.kind,
                app_key: self.app_key,
                session_id: self.session_id,
                payload: patched.as_deref().unwrap_or(&received),
                settings,
                received_ms: self.request.received_ms,
            };
            let verdict = policy.evaluate(&input, tenant.limits, grants).await.map(|(verdict, effects)| {
                outgoing.extend(effects);
                verdict
            });
            match verdict {
                Ok(Verdict::Allow) => record("allow"),
                Ok(Verdict::Deny { status, reason }) => {
                    record("deny");
                    return Outcome::Denied { policy: name.clone(), status, reason };
                }
                Ok(Verdict::Override(text)) => {
                    let target = match doc.as_mut() {
                        Some(target) => target,
                        None => match full_parse(self.request.body) {
                            Ok(map) => doc.insert(map),
                            Err(reason) => return Outcome::Malformed(reason),
                        },
                    };
                    let checked = patch::parse_patch(&text).and_then(|patch| {
                        let may_add = self.method.kind == MethodKind::Connect;
                        patch::check_fields(&patch, target, overwrite, may_add, self.method.name).map(|()| patch)
                    });
                    match checked {
                        Ok(patch) => {
                            record("override");
                            patch::merge(target, &patch);
                            patched = Some(Value::Object(target.clone()).to_string());
                        }
                        Err(err) => {
                            record("bad-output");
                            return fail("bad-output", format!("policy '{name}': {err}"));
                        }
                    }
                }
                Err(failure) => {
                    record(failure.cause());
                    return fail(failure.cause(), format!("policy '{name}': {failure}"));
                }
            }
        }
        Outcome::Allowed(doc, outgoing)
    }

    /// sha256 of the method and the body bytes: a retried delivery of the same hook has the
    /// same digest, so its state updates are applied once.
    fn delivery_digest(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(self.method.name.as_bytes());
        digest.update(b"\n");
        digest.update(self.request.body);
        digest.finalize().into()
    }

    /// The body of an allowed hook: the received bytes, the patched document, and on
    /// `connect` the `restClientConfig` unless a policy set one.
    fn allowed_body(&self, doc: Option<Map<String, Value>>) -> Result<Body, String> {
        let connect = self.method.kind == MethodKind::Connect;
        Ok(match doc {
            Some(mut doc) => {
                if connect && !doc.contains_key("restClientConfig") {
                    let config = serde_json::from_str(&self.tenant.rest_client_config).unwrap_or(Value::Null);
                    doc.insert("restClientConfig".into(), config);
                }
                Body::Json(Value::Object(doc).to_string().into_bytes())
            }
            None if connect => {
                let received = full_parse(self.request.body)?;
                Body::Json(append_field(
                    self.request.body,
                    &received,
                    "restClientConfig",
                    &self.tenant.rest_client_config,
                ))
            }
            None => Body::Echo,
        })
    }

    fn rest_api_initiated(&self) -> bool {
        match serde_json::from_slice::<Map<String, Value>>(self.request.body) {
            Ok(body) => self.tenant.manifest.rest_api_initiated.iter().any(|matcher| matcher.matches(&body)),
            Err(_) => false,
        }
    }
}

/// The whole body as a JSON object: the envelope parse skims what it does not need, so this
/// full parse may still refuse it.
fn full_parse(body: &[u8]) -> Result<Map<String, Value>, String> {
    serde_json::from_slice(body).map_err(|err| BadHook::NotJson(err.to_string()).to_string())
}

/// Answers a body only a full parse refuses: 400, like any malformed body.
fn malformed(decision: &mut Decision, reason: String) {
    decision.status = 400;
    decision.body = error_body(&reason, None);
    decision.note = Some(reason);
}

/// Adds `"key": value` to the bytes of the JSON object `map` was parsed from, keeping every
/// received byte as it was. If the object already has the key, it is left unchanged (a
/// mirror must not duplicate keys).
fn append_field(object: &[u8], map: &Map<String, Value>, key: &str, value: &str) -> Vec<u8> {
    if map.contains_key(key) {
        return object.to_vec();
    }
    let end = object.iter().rposition(|b| *b == b'}').unwrap_or(object.len());
    let mut out = Vec::with_capacity(object.len() + key.len() + value.len() + 4);
    out.extend_from_slice(&object[..end]);
    if !map.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(Value::String(key.to_owned()).to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&object[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors_are_precise() {
        assert_eq!(parse_envelope(b"[1]"), Err(BadHook::NotObject));
        assert_eq!(parse_envelope(b"\"x\""), Err(BadHook::NotObject));
        assert!(matches!(parse_envelope(b"{\"a\":"), Err(BadHook::NotJson(_))));
        assert!(matches!(parse_envelope(b""), Err(BadHook::NotJson(_))));
        assert_eq!(
            parse_envelope(br#" {"appKey":"a\u0062","sessionId":"s","x":[1,{"y":2}]}"#),
            Ok(("ab".into(), "s".into()))
        );
        assert_eq!(parse_envelope(b"{}"), Ok((String::new(), String::new())));
        assert_eq!(parse_envelope(b"{\"a\":\"\xff\"}"), Err(BadHook::NotUtf8(6)));
    }

    #[test]
    fn bodies_that_contradict_their_method_are_named() {
        let misfit = |method: &str, body: &str, session: &str| {
            let method = Method::classify(method);
            Shape::of(method, body.as_bytes()).and_then(|shape| shape.misfit(method, session))
        };
        let stream = r#"{"sessionId":"s","mediaSessionId":"m","name":"a","published":true,"status":"FAILED"}"#;
        assert_eq!(
            misfit("ConnectionStatusEvent", stream, "s").unwrap(),
            "body does not fit method ConnectionStatusEvent: it has a stream's fields (mediaSessionId, or name and \
             published)"
        );
        assert!(misfit("connect", r#"{"name":"a","published":false}"#, "s").is_some());
        assert_eq!(
            misfit("ConnectionStatusEvent", r#"{"status":"DISCONNECTED"}"#, "").unwrap(),
            "body does not fit method ConnectionStatusEvent: it has no sessionId"
        );
        assert!(misfit("publishStream", stream, "s").unwrap().contains("status FAILED ends a stream"));
        assert!(misfit("playStream", r#"{"status":"STOPPED"}"#, "s").is_some());
        // What fits: the documented bodies, and methods that are not checked.
        assert_eq!(misfit("ConnectionStatusEvent", r#"{"status":"DISCONNECTED","name":"x"}"#, "s"), None);
        assert_eq!(misfit("publishStream", r#"{"status":"PENDING","name":"a","published":true}"#, "s"), None);
        assert_eq!(misfit("StreamStatusEvent", stream, "s"), None);
        assert_eq!(misfit("unPublishStream", stream, "s"), None);
        let connection = r#"{"sessionId":"s","status":"ESTABLISHED"}"#;
        let method = Method::classify("ConnectionStatusEvent");
        assert_eq!(Shape::of(method, connection.as_bytes()).unwrap().connection_status(), Some("ESTABLISHED"));
    }

    #[test]
    fn appended_field_keeps_received_bytes() {
        let body = br#"{"a" : 1,  "b":"x"}
"#;
        let append = |body: &[u8], key, value| append_field(body, &full_parse(body).unwrap(), key, value);
        let out = append(body, "restClientConfig", r#"{"m":{}}"#);
        assert_eq!(String::from_utf8(out).unwrap(), "{\"a\" : 1,  \"b\":\"x\",\"restClientConfig\":{\"m\":{}}}\n");
        assert_eq!(append(b"{ }", "k", "1"), b"{ \"k\":1}".to_vec());
        assert_eq!(append(br#"{"k":2}"#, "k", "1"), br#"{"k":2}"#.to_vec());
    }

    #[test]
    fn envelope_faults_are_named_for_what_they_are() {
        let duplicate = parse_envelope(br#"{"appKey":"a","appKey":"b"}"#).unwrap_err();
        assert_eq!(
            duplicate.to_string(),
            "body has an unusable appKey or sessionId: duplicate field `appKey` at line 1 column 22"
        );
        assert!(matches!(parse_envelope(br#"{"appKey":1}"#), Err(BadHook::BadEnvelope(_))));
        // Skimmed by the envelope parse, refused by the full parse an override or connect needs.
        assert!(parse_envelope(br#"{"appKey":"a","x":1e999}"#).is_ok());
        assert!(full_parse(br#"{"appKey":"a","x":1e999}"#).unwrap_err().starts_with("body is not valid JSON: "));
    }

    mod properties {
        use super::super::{BadHook, parse_envelope};
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            /// Arbitrary bytes never panic; whatever is accepted is a JSON object whose
            /// `appKey` and `sessionId` are the ones returned.
            #[test]
            fn any_bytes_are_answered_precisely(body in prop::collection::vec(any::<u8>(), 0..200)) {
                match parse_envelope(&body) {
                    Ok((app_key, session_id)) => {
                        let object: Map<String, Value> = serde_json::from_slice(&body).expect("accepted bodies are objects");
                        prop_assert_eq!(object.get("appKey").and_then(Value::as_str).unwrap_or(""), app_key.as_str());
                        prop_assert_eq!(object.get("sessionId").and_then(Value::as_str).unwrap_or(""), session_id.as_str());
                    }
                    Err(BadHook::NotObject) => prop_assert!(serde_json::from_slice::<Value>(&body).is_ok()),
                    Err(BadHook::NotJson(_)) => prop_assert!(serde_json::from_slice::<Value>(&body).is_err()),
                    Err(BadHook::BadEnvelope(_)) => prop_assert!(serde_json::from_slice::<Value>(&body).is_ok()),
                    Err(BadHook::NotUtf8(at)) => prop_assert!(std::str::from_utf8(&body).is_err() && at <= body.len()),
                }
            }

            /// Well-formed hook bodies (any fields, any escapes in the keys' values) are accepted.
            #[test]
            fn hook_shaped_bodies_are_accepted(app_key in "\\PC{0,12}", session in "\\PC{0,12}", extra in "[a-z]{1,5}", n in any::<i64>()) {
                let body = serde_json::json!({"nodeId": "n", "appKey": app_key, extra: n, "sessionId": session, "custom": {"appKey": 1}});
                let bytes = serde_json::to_vec(&body).unwrap();
                prop_assert_eq!(parse_envelope(&bytes), Ok((app_key, session)));
            }
        }
    }
}
