//! The host imports a manifest grants per policy: `state`, `notify` and `send-data`.
//!
//! Every capability is linked for every module, so one compiled module serves tenants with
//! different grants; what a module may use is checked at load ([`Policy::capabilities`]
//! against the manifest) and again at each call (an ungranted call traps).
//!
//! [`Policy::capabilities`]: crate::Policy::capabilities

use crate::bindings::hookgate::policy::{notify, send_data, state};
use crate::host::HostState;
use hookgate_protocol::{Capability, Effect};
use hookgate_state::{ClaimOutcome, ClaimPool, OpId, Scope, StateBackend, StateError};
use std::sync::Arc;
use std::time::Duration;

/// Effects one evaluation may queue (notifications and messages together).
const MAX_EFFECTS: usize = 100;

/// What the granted capabilities reach during one evaluation.
#[derive(Clone, Default)]
pub struct Grants {
    /// The `state` backend, for this tenant and this hook delivery; `None` if not granted.
    pub state: Option<StateAccess>,
    /// Whether `notify` is granted.
    pub notify: bool,
    /// Whether `send-data` is granted.
    pub send_data: bool,
}

/// A tenant's view of the state backend during one hook delivery.
#[derive(Clone)]
pub struct StateAccess {
    /// The shared backend.
    pub backend: Arc<dyn StateBackend>,
    /// The tenant whose keys the policy sees.
    pub tenant: Arc<str>,
    /// sha256 of the hook delivery (method and body), the idempotency key of its updates.
    pub hook: [u8; 32],
}

impl HostState {
    /// The state access of this evaluation and the id of its next update.
    fn state_access(&mut self) -> wasmtime::Result<(StateAccess, OpId)> {
        let access =
            self.grants.state.clone().ok_or_else(|| wasmtime::format_err!("capability 'state' is not granted"))?;
        let op = OpId { hook: access.hook, seq: self.state_ops };
        self.state_ops += 1;
        Ok((access, op))
    }

    fn queue(&mut self, capability: Capability, granted: bool, effect: Effect) -> wasmtime::Result<Result<(), String>> {
        if !granted {
            return Err(wasmtime::format_err!("capability '{capability}' is not granted"));
        }
        if self.effects.len() >= MAX_EFFECTS {
            return Ok(Err(format!("at most {MAX_EFFECTS} notifications and messages per evaluation")));
        }
        let (Effect::Notify { data: json, .. } | Effect::SendData { payload: json, .. }) = &effect;
        if json.len() > self.limits.max_output_bytes {
            return Ok(Err(format!(
                "{} bytes is over the limit of {} bytes",
                json.len(),
                self.limits.max_output_bytes
            )));
        }
        if let Err(err) = serde_json::from_str::<&serde_json::value::RawValue>(json) {
            return Ok(Err(format!("not JSON: {err}")));
        }
        self.effects.push(effect);
        Ok(Ok(()))
    }
}

fn scope(scope: state::Scope) -> Scope {
    match scope {
        state::Scope::Tenant => Scope::Tenant,
        state::Scope::Session(session) => Scope::Session(session),
    }
}

fn pool(pool: &state::ClaimPool) -> ClaimPool<'_> {
    ClaimPool { claims: &pool.claims, notes: &pool.notes }
}

fn outcome(outcome: ClaimOutcome) -> state::ClaimOutcome {
    match outcome {
        ClaimOutcome::Held => state::ClaimOutcome::Held,
        ClaimOutcome::Taken => state::ClaimOutcome::Taken,
        ClaimOutcome::Full => state::ClaimOutcome::Full,
    }
}

fn ttl(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

fn error(err: StateError) -> state::StateError {
    match err {
        StateError::Unavailable(reason) => state::StateError::Unavailable(reason),
        StateError::Invalid(reason) => state::StateError::Invalid(reason),
    }
}

type StateResult<T> = wasmtime::Result<Result<T, state::StateError>>;

impl HostState {
    /// Awaits a state call off the evaluation's running time, for at most the policy's
    /// deadline: a backend slower than that (a stalled Redis) answers `unavailable`, which the
    /// policy can handle, rather than the deadline stopping the policy.
    async fn await_state<T>(&self, call: impl Future<Output = Result<T, StateError>>) -> StateResult<T> {
        let budget = Duration::from_millis(self.limits.timeout_ms);
        let paused = self.clock.pause();
        let outcome = tokio::time::timeout(budget, call).await;
        self.clock.resume(paused);
        Ok(match outcome {
            Ok(result) => result.map_err(error),
            Err(_) => Err(state::StateError::Unavailable(format!(
                "the state backend did not answer within the policy's deadline of {} ms",
                self.limits.timeout_ms
            ))),
        })
    }
}

impl state::Host for HostState {
    async fn get(&mut self, scope_: state::Scope, key: String) -> StateResult<Option<String>> {
        let (access, _) = self.state_access()?;
        self.await_state(access.backend.get(&access.tenant, &scope(scope_), &key)).await
    }

    async fn set(&mut self, scope_: state::Scope, key: String, value: String, ttl_ms: u64) -> StateResult<()> {
        let (access, op) = self.state_access()?;
        self.await_state(access.backend.set(&access.tenant, &scope(scope_), &key, &value, ttl(ttl_ms), op)).await
    }

    async fn delete(&mut self, scope_: state::Scope, key: String) -> StateResult<bool> {
        let (access, op) = self.state_access()?;
        self.await_state(access.backend.delete(&access.tenant, &scope(scope_), &key, op)).await
    }

    async fn incr(&mut self, scope_: state::Scope, key: String, delta: i64, ttl_ms: u64) -> StateResult<i64> {
        let (access, op) = self.state_access()?;
        self.await_state(access.backend.incr(&access.tenant, &scope(scope_), &key, delta, ttl(ttl_ms), op)).await
    }

    async fn compare_and_set(
        &mut self,
        scope_: state::Scope,
        key: String,
        expected: Option<String>,
        value: Option<String>,
        ttl_ms: u64,
    ) -> StateResult<bool> {
        let (access, op) = self.state_access()?;
        let (expected, value) = (expected.as_deref(), value.as_deref());
        self.await_state(access.backend.compare_and_set(
            &access.tenant,
            &scope(scope_),
            &key,
            expected,
            value,
            ttl(ttl_ms),
            op,
        ))
        .await
    }

    async fn claim(
        &mut self,
        pool_: state::ClaimPool,
        name: String,
        session: String,
        max: u32,
    ) -> StateResult<state::ClaimOutcome> {
        let (access, op) = self.state_access()?;
        let claimed = self.await_state(access.backend.claim(&access.tenant, pool(&pool_), &name, &session, max, op));
        Ok(claimed.await?.map(outcome))
    }

    async fn release(&mut self, pool_: state::ClaimPool, session: String, name: Option<String>) -> StateResult<u32> {
        let (access, op) = self.state_access()?;
        self.await_state(access.backend.release(&access.tenant, pool(&pool_), &session, name.as_deref(), op)).await
    }

    async fn keys(&mut self, scope_: state::Scope, prefix: String) -> StateResult<Vec<String>> {
        let (access, _) = self.state_access()?;
        self.await_state(access.backend.keys(&access.tenant, &scope(scope_), &prefix)).await
    }
}

impl notify::Host for HostState {
    fn publish(&mut self, event_type: String, id: String, data: String) -> wasmtime::Result<Result<(), String>> {
        let granted = self.grants.notify;
        self.queue(Capability::Notify, granted, Effect::Notify { event_type, id, data })
    }
}

impl send_data::Host for HostState {
    fn send(&mut self, session_id: String, payload: String) -> wasmtime::Result<Result<(), String>> {
        let granted = self.grants.send_data;
        self.queue(Capability::SendData, granted, Effect::SendData { session_id, payload })
    }
}
