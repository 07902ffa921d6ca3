//! A compiled, pre-instantiated policy and the evaluation of one hook.
//!
//! Each evaluation runs in a fresh instance, or, for a policy in `reuse` mode
//! ([`Policy::reusing`]), in a warm instance kept from an earlier evaluation of the same
//! policy (`reuse`). Either way it runs under the same limits: the memory cap, the deadline in
//! running time with its long-lane turns, and the grants of its own hook.

use crate::bindings::CapablePolicyPre;
use crate::bindings::hookgate::policy::types;
use crate::capabilities::Grants;
use crate::errors::Failure;
use crate::host::{HostState, LogTags, PolicyLog};
use crate::reuse::{Instance, Reuse};
use crate::runtime::Inner;
use crate::schedule::{Streak, Turns};
use hookgate_protocol::Capability;
use hookgate_protocol::Effect;
pub use hookgate_protocol::MethodKind;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Store, Trap};

/// One compiled module, shared by every [`Policy`] loaded from the same bytes.
pub(crate) struct Compiled {
    pub(crate) digest: String,
    pub(crate) pre: CapablePolicyPre<HostState>,
}

/// A loaded policy: a compiled module plus the names its log lines carry. Cheap to clone.
#[derive(Clone)]
pub struct Policy {
    compiled: Arc<Compiled>,
    runtime: Arc<Inner>,
    tenant: Arc<str>,
    name: Arc<str>,
    log: Arc<PolicyLog>,
    streak: Arc<Streak>,
    /// The instances kept between evaluations, in `reuse` mode; `None`: a fresh instance each.
    reuse: Option<Arc<Reuse>>,
}

/// Limits of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalLimits {
    /// Deadline in milliseconds of running time (1 ms granularity); time spent waiting for a
    /// worker or for the long lane does not count, up to 4× the deadline on the clock.
    pub timeout_ms: u64,
    /// Linear memory cap in MiB.
    pub memory_mb: u64,
    /// Largest verdict text (override patch or deny reason) accepted, in bytes.
    pub max_output_bytes: usize,
    /// Table elements an instance may have.
    pub table_elements: u32,
    /// Log lines written per evaluation; the rest are dropped (and counted).
    pub log_lines: u32,
    /// Log calls allowed per evaluation; past this the evaluation fails (`log-flood`).
    pub log_calls: u32,
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits {
            timeout_ms: 50,
            memory_mb: 32,
            max_output_bytes: 64 << 10,
            table_elements: crate::runtime::TABLE_ELEMENTS,
            log_lines: 100,
            log_calls: 10_000,
        }
    }
}

/// One hook as handed to a policy. Borrowed: nothing is copied before the guest's own memory.
#[derive(Debug, Clone, Copy)]
pub struct HookInput<'a> {
    /// The method name as received.
    pub method: &'a str,
    /// The method's kind.
    pub kind: MethodKind,
    /// The body's `appKey` (empty if none).
    pub app_key: &'a str,
    /// The body's `sessionId` (empty if none).
    pub session_id: &'a str,
    /// The JSON body.
    pub payload: &'a str,
    /// The policy's settings, as JSON.
    pub settings: &'a str,
    /// Reception time, in ms since the Unix epoch.
    pub received_ms: u64,
}

/// Longest text a policy's `err(...)` or a `validate-settings` refusal keeps, in bytes; the
/// rest is cut with a marker ([`bounded_text`]) before it reaches an answer, a log line or
/// the decision log.
pub const MAX_POLICY_TEXT: usize = 1024;

/// Longest method name (a client-chosen URL segment) a log line repeats, in bytes; the rest is
/// cut with a marker ([`bounded_text`]). The log writer escapes what is kept.
pub const MAX_LOGGED_METHOD: usize = 64;

/// `text` if it is at most `max` bytes; else its first `max` bytes or fewer (at a character
/// boundary) followed by `… (truncated, N bytes)`, N the length of the whole text.
pub fn bounded_text(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let cut = text.floor_char_boundary(max);
    std::borrow::Cow::Owned(format!("{}… (truncated, {} bytes)", &text[..cut], text.len()))
}

/// [`bounded_text`] of an owned string with [`MAX_POLICY_TEXT`].
fn bounded(text: String) -> String {
    match bounded_text(&text, MAX_POLICY_TEXT) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(cut) => cut,
    }
}

/// A policy's decision, checked against the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let the operation go on.
    Allow,
    /// Refuse it; `status` is 4xx or 5xx.
    Deny {
        /// HTTP status for WCS.
        status: u16,
        /// Why, for the client and the logs.
        reason: String,
    },
    /// Change fields with this JSON merge patch text (checked by the caller).
    Override(String),
}

impl Policy {
    pub(crate) fn new(compiled: Arc<Compiled>, runtime: Arc<Inner>) -> Policy {
        Policy {
            compiled,
            runtime,
            tenant: Arc::from(""),
            name: Arc::from(""),
            log: PolicyLog::new(1_000),
            streak: Arc::default(),
            reuse: None,
        }
    }

    /// The same policy for one tenant: the names its log lines carry, and the log lines per
    /// second it may write over all its evaluations. In `reuse` mode it gets instances of its
    /// own (none are kept yet).
    pub fn named(mut self, tenant: &str, name: &str, log_lines_per_s: u32) -> Policy {
        self.tenant = Arc::from(tenant);
        self.name = Arc::from(name);
        self.log = PolicyLog::new(log_lines_per_s);
        self.streak = Arc::default();
        let reuse = self.reuse.is_some();
        self.reusing(reuse)
    }

    /// The same policy with `reuse` mode on or off, with no instance kept yet.
    ///
    /// In `reuse` mode an evaluation runs in a warm instance kept from an earlier evaluation
    /// of this policy (clones of this value share them), when one is free, instead of a
    /// fresh one: ~30 µs rather than ~1.2 ms per evaluation for the Python stream-guard, ~90
    /// rather than ~450 µs for the JavaScript one (`plugins/README.md`). The cost is isolation: the guest's globals and linear memory persist from one
    /// evaluation to the next (host state and grants do not). Failed instances are never
    /// reused, and each is retired after [`crate::REUSE_EVALUATIONS`] evaluations. The
    /// rules are on the `reuse` module.
    pub fn reusing(mut self, reuse: bool) -> Policy {
        self.reuse = reuse.then(|| {
            Arc::new(Reuse::new(
                self.runtime.kept_per_policy,
                Arc::clone(&self.runtime.kept),
                Arc::clone(&self.runtime.reuse_counters),
            ))
        });
        self
    }

    /// The sha256 of the module bytes, in hex.
    pub fn digest(&self) -> &str {
        &self.compiled.digest
    }

    /// The capabilities the module imports, sorted.
    pub fn capabilities(&self) -> Vec<Capability> {
        let engine = &self.runtime.engine;
        let component = self.compiled.pre.instance_pre().component();
        let mut used: Vec<_> =
            component.component_type().imports(engine).filter_map(|(name, _)| Capability::of_import(name)).collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// Evaluates one hook in a fresh instance (or a kept one, in `reuse` mode), with the
    /// capabilities `grants` reach. The effects
    /// it queued (notifications, messages) come with its verdict; a failed evaluation's are
    /// dropped.
    pub async fn evaluate(
        &self,
        hook: &HookInput<'_>,
        limits: EvalLimits,
        grants: Grants,
    ) -> Result<(Verdict, Vec<Effect>), Failure> {
        let input = types::Hook {
            method: hook.method,
            kind: match hook.kind {
                MethodKind::Connect => types::MethodKind::Connect,
                MethodKind::Direct => types::MethodKind::Direct,
                MethodKind::Event => types::MethodKind::Event,
                MethodKind::Incoming => types::MethodKind::Incoming,
            },
            app_key: hook.app_key,
            session_id: hook.session_id,
            payload: hook.payload,
            settings: hook.settings,
            received_ms: hook.received_ms,
        };
        self.run(hook.method, limits, grants, async |store, world| {
            let verdict = world.call_evaluate(&mut *store, input).await?;
            Ok(checked(verdict, limits).map(|verdict| (verdict, std::mem::take(&mut store.data_mut().effects))))
        })
        .await?
    }

    /// Asks the policy whether it accepts `settings` (JSON). `Ok(Err(reason))` is a refusal.
    pub async fn validate_settings(&self, settings: &str, limits: EvalLimits) -> Result<Result<(), String>, Failure> {
        let answer = self
            .run("validate-settings", limits, Grants::default(), async |store, world| {
                world.call_validate_settings(store, settings).await
            })
            .await?;
        Ok(answer.map_err(bounded))
    }

    /// Runs `call` against a fresh or kept instance under the limits, and classifies failures.
    /// In `reuse` mode the instance is kept only if `call` returned `Ok(Ok(_))`.
    async fn run<T, E>(
        &self,
        method: &str,
        limits: EvalLimits,
        grants: Grants,
        call: impl AsyncFnOnce(&mut Store<HostState>, &crate::bindings::CapablePolicy) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<Result<T, E>, Failure> {
        let _permit = self
            .runtime
            .permits
            .acquire()
            .await
            .map_err(|_| Failure::Instantiate("runtime is shutting down".into()))?;
        let method = Arc::from(bounded_text(method, MAX_LOGGED_METHOD));
        let tags = LogTags { tenant: Arc::clone(&self.tenant), policy: Arc::clone(&self.name), method };
        // The deadline counts running time; long evaluations take turns on the long lane. A
        // kept instance is taken only once through the lane: an evaluation waiting there must
        // not hold one, or the others would find none and instantiate fresh (long) ones.
        let turns = Arc::new(Turns::new(Duration::from_millis(limits.timeout_ms), Arc::clone(&self.runtime.long_lane)));
        let state = HostState::new(tags, limits, Arc::clone(&self.log), grants, Arc::clone(&turns));
        if self.streak.long() {
            turns.enter_lane().await;
        }
        let mut instance = match self.reuse.as_deref().and_then(Reuse::take) {
            Some(mut kept) => {
                // Everything host-side starts over: grants, digest, counters, effects, tags.
                *kept.store.data_mut() = state;
                kept
            }
            None => {
                let mut store = Store::new(&self.runtime.engine, state);
                store.limiter(|state| state);
                Instance::new(store)
            }
        };
        let store = &mut instance.store;
        store.set_epoch_deadline(1);
        let ticks = Arc::clone(&turns);
        store.epoch_deadline_callback(move |_| Ok(ticks.tick()));

        let world = match instance.world.take() {
            Some(world) => Ok(world),
            None => self.compiled.pre.instantiate_async(&mut *store).await,
        };
        let outcome = match world {
            Ok(world) => call(&mut *store, &world).await.map(|result| (result, world)),
            Err(err) if store.data().memory_exceeded => Err(err),
            Err(err) => return Err(Failure::Instantiate(format!("{err:#}"))),
        };
        turns.leave_lane();
        store.data().finish();
        self.streak.record(&turns);
        if let (Some(reuse), false) = (&self.reuse, matches!(outcome, Ok((Ok(_), _)))) {
            reuse.discard();
        }
        match outcome {
            Ok((result, world)) => {
                if let (Some(reuse), true) = (&self.reuse, result.is_ok()) {
                    instance.world = Some(world);
                    reuse.give_back(instance);
                }
                Ok(result)
            }
            Err(_) if store.data().memory_exceeded => Err(Failure::Memory(limits.memory_mb)),
            Err(_) if store.data().log_flooded() => Err(Failure::LogFlood(limits.log_calls)),
            Err(err) if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(Failure::Deadline(limits.timeout_ms))
            }
            Err(err) => Err(Failure::Trap(trap_message(&err))),
        }
    }
}

/// Checks a verdict against the contract and the output limit.
fn checked(verdict: Result<types::Verdict, String>, limits: EvalLimits) -> Result<Verdict, Failure> {
    match verdict.map_err(|error| Failure::Error(bounded(error)))? {
        types::Verdict::Deny(denial) if denial.reason.len() > limits.max_output_bytes => {
            Err(Failure::OutputTooLarge(denial.reason.len(), limits.max_output_bytes))
        }
        types::Verdict::Override(patch) if patch.len() > limits.max_output_bytes => {
            Err(Failure::OutputTooLarge(patch.len(), limits.max_output_bytes))
        }
        types::Verdict::Allow => Ok(Verdict::Allow),
        types::Verdict::Deny(denial) if (400..=599).contains(&denial.status) => {
            Ok(Verdict::Deny { status: denial.status, reason: denial.reason })
        }
        types::Verdict::Deny(denial) => {
            Err(Failure::BadOutput(format!("deny status {} is not a 4xx or 5xx status", denial.status)))
        }
        types::Verdict::Override(patch) => Ok(Verdict::Override(patch)),
    }
}

/// The trap's own description, without the wasm backtrace that follows it.
fn trap_message(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{err:#}").lines().next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::bounded_text;

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_a_marker() {
        assert_eq!(bounded_text("short", 8), "short");
        assert_eq!(bounded_text("abcdefgh", 8), "abcdefgh");
        assert_eq!(bounded_text("abcdefghij", 4), "abcd… (truncated, 10 bytes)");
        // 'é' is two bytes: a cut inside it keeps the whole character out.
        assert_eq!(bounded_text("aé", 2), "a… (truncated, 3 bytes)");
        let big = "x".repeat(8 << 20);
        assert_eq!(bounded_text(&big, 1024).len(), 1024 + "… (truncated, 8388608 bytes)".len());
    }
}
