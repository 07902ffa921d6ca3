//! The chain runner: a hook through its method's policies, one after another, each seeing
//! the payload as the previous ones left it.

use crate::decision::{Cause, PolicyRun, RunOutcome};
use crate::hook::{BadHook, Hook};
use crate::tenant::{Link, LoadedPolicy, Rule, Tenant};
use hookgate_protocol::{Capability, MethodKind, patch};
use hookgate_runtime::{Effect, Grants, HookInput, StateAccess, StateBackend, Verdict};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

/// How a chain ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Every policy allowed or overrode; the patched document if one overrode.
    Allowed(Option<Map<String, Value>>),
    /// A policy denied.
    Denied {
        /// The policy.
        policy: String,
        /// Its status (400–599).
        status: u16,
        /// Its reason.
        reason: String,
    },
    /// The body passed the envelope parse but an override needed the full parse, which
    /// refused it: answered 400 like any malformed body.
    Malformed(BadHook),
    /// A policy (or, for `overload`, the tenant) failed.
    Failed {
        /// The policy, if one failed.
        policy: Option<String>,
        /// Why.
        cause: Cause,
        /// What failed, for the answer and the log.
        message: String,
    },
}

/// What a chain did: how it ended, each policy's run, and the effects they queued.
pub(crate) struct ChainRun {
    /// How it ended.
    pub end: End,
    /// The policies that ran, in order.
    pub runs: Vec<PolicyRun>,
    /// Notifications and messages queued by the policies (a failed evaluation's are dropped).
    pub effects: Vec<Effect>,
}

/// Runs `hook` through `rule`'s chain of `tenant`, within the tenant's concurrency: past it,
/// the chain is not run and fails with `overload` at once (no unbounded queue).
pub(crate) async fn run(
    tenant: &Tenant,
    rule: Option<&Rule>,
    hook: &Hook<'_>,
    state: &Arc<dyn StateBackend>,
) -> ChainRun {
    let mut run = ChainRun { end: End::Allowed(None), runs: Vec::new(), effects: Vec::new() };
    let Some(rule) = rule.filter(|rule| !rule.chain.is_empty()) else { return run };
    let Ok(_slot) = tenant.slots.try_acquire() else {
        let message = format!(
            "tenant '{}' is overloaded: {} evaluations already running",
            tenant.name, tenant.manifest.limits.max_concurrent
        );
        run.end = End::Failed { policy: None, cause: Cause::Overload, message };
        return run;
    };
    // Events already happened: whatever a "*" rule declares, none of their fields may change.
    let overwrite: &[String] = if hook.method.kind == MethodKind::Event { &[] } else { &rule.overwrite };
    let mut runner = Runner { tenant, hook, state, overwrite, doc: None, patched: None, delivery: None };
    for link in &rule.chain {
        let span = tracing::info_span!(target: crate::TRACE_TARGET, "policy", hookgate.policy = link.name.as_str(),
            hookgate.verdict = Empty, hookgate.failure = Empty, hookgate.duration_us = Empty);
        let started = std::time::Instant::now();
        let (outcome, end) = runner.step(link, &mut run.effects).instrument(span.clone()).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        record_run(&span, outcome, micros);
        if let Some(outcome) = outcome {
            run.runs.push(PolicyRun { policy: link.name.clone(), outcome, micros });
        }
        if let Some(end) = end {
            run.end = end;
            return run;
        }
    }
    run.end = End::Allowed(runner.doc);
    run
}

/// Records what one policy did on its span: `allow`, `deny`, `override`, `fail` (with the
/// cause), or `malformed` (the body's full parse refused it before the policy's verdict counted).
fn record_run(span: &Span, outcome: Option<RunOutcome>, micros: u64) {
    if span.is_disabled() {
        return;
    }
    let verdict = match outcome {
        Some(RunOutcome::Failed(cause)) => {
            span.record("hookgate.failure", cause.as_str());
            "fail"
        }
        Some(outcome) => outcome.as_str(),
        None => "malformed",
    };
    span.record("hookgate.verdict", verdict);
    span.record("hookgate.duration_us", micros);
}

/// The state of one chain run between its policies.
struct Runner<'a> {
    tenant: &'a Tenant,
    hook: &'a Hook<'a>,
    state: &'a Arc<dyn StateBackend>,
    overwrite: &'a [String],
    /// The document after the overrides so far (parsed at the first override).
    doc: Option<Map<String, Value>>,
    /// `doc` as text: the payload the next policy sees, once an override changed it.
    patched: Option<String>,
    /// The idempotency key of this delivery's state updates, computed once if needed.
    delivery: Option<[u8; 32]>,
}

impl Runner<'_> {
    /// Runs one policy: what it did (`None` if it never ran), and how the chain ends if it
    /// ends here.
    async fn step(&mut self, link: &Link, queued: &mut Vec<Effect>) -> (Option<RunOutcome>, Option<End>) {
        let name = &link.name;
        let fail = |cause, message: String| {
            (Some(RunOutcome::Failed(cause)), Some(End::Failed { policy: Some(name.clone()), cause, message }))
        };
        let policy = match &link.policy {
            LoadedPolicy::Ready(policy) => policy,
            LoadedPolicy::NotLoaded(reason) => {
                return fail(Cause::NotLoaded, format!("policy '{name}' is not loaded: {reason}"));
            }
        };
        let grants = self.grants(link);
        let payload = self.patched.as_deref().unwrap_or(self.hook.text);
        let input = HookInput {
            method: self.hook.method.name,
            kind: self.hook.method.kind,
            app_key: &self.hook.app_key,
            session_id: &self.hook.session_id,
            payload,
            settings: &link.settings,
            received_ms: self.hook.request.received_ms,
        };
        let verdict = match policy.evaluate(&input, self.tenant.limits, grants).await {
            Ok((verdict, effects)) => {
                queued.extend(effects);
                verdict
            }
            Err(failure) => return fail(Cause::from(&failure), format!("policy '{name}': {failure}")),
        };
        match verdict {
            Verdict::Allow => (Some(RunOutcome::Allow), None),
            Verdict::Deny { status, reason } => {
                (Some(RunOutcome::Deny), Some(End::Denied { policy: name.clone(), status, reason }))
            }
            Verdict::Override(text) => match self.apply(&text) {
                Ok(Ok(())) => (Some(RunOutcome::Override), None),
                Ok(Err(err)) => fail(Cause::BadOutput, format!("policy '{name}': {err}")),
                Err(reason) => (None, Some(End::Malformed(reason))),
            },
        }
    }

    /// What `link`'s grants reach during this evaluation.
    fn grants(&mut self, link: &Link) -> Grants {
        let state = link.granted(Capability::State).then(|| StateAccess {
            backend: Arc::clone(self.state),
            tenant: Arc::from(self.tenant.name.as_str()),
            hook: *self.delivery.get_or_insert_with(|| delivery_digest(self.hook)),
        });
        Grants { state, notify: link.granted(Capability::Notify), send_data: link.granted(Capability::SendData) }
    }

    /// Checks and merges an override patch. `Err`: the body's full parse failed;
    /// `Ok(Err)`: the patch breaks the contract.
    fn apply(&mut self, text: &str) -> Result<Result<(), patch::PatchError>, BadHook> {
        let patch = match patch::parse_patch(text) {
            // An event cannot change: an empty patch leaves it as received, any field fails below.
            Ok(patch) if patch.is_empty() && self.hook.method.kind == MethodKind::Event => return Ok(Ok(())),
            Ok(patch) => patch,
            Err(err) => return Ok(Err(err)),
        };
        let target = match self.doc.as_mut() {
            Some(target) => target,
            None => self.doc.insert(self.hook.document()?),
        };
        let may_add = self.hook.method.kind == MethodKind::Connect;
        let checked = patch::check_fields(&patch, target, self.overwrite, may_add, self.hook.method.name);
        Ok(checked.map(|()| {
            patch::merge(target, &patch);
            self.patched = Some(Value::Object(target.clone()).to_string());
        }))
    }
}

/// sha256 of the method and the body bytes: a retried delivery of the same hook has the
/// same digest, so its state updates are applied once.
fn delivery_digest(hook: &Hook<'_>) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(hook.method.name.as_bytes());
    digest.update(b"\n");
    digest.update(hook.request.body);
    digest.finalize().into()
}
