//! The `state` capability's interface (WIT interface `hookgate:policy/state`) and its in-process
//! backend. The Redis backend, for a fleet, is `hookgate-redis`'s `RedisState`; the sandbox
//! needs only this crate.
//!
//! A [`StateBackend`] holds every tenant's keys. Keys live in a [`Scope`]: the tenant's own, or
//! one WCS session's (deleted by [`StateBackend::end_session`] when WCS reports the session
//! gone, and expired after the session TTL otherwise). Updates carry an [`OpId`]: the digest of
//! the hook delivery and the update's position among that evaluation's updates. A retried
//! delivery of the same hook replays the recorded results instead of applying them again.
//!
//! # Layout
//!
//! - [`StateBackend`], [`Scope`], [`OpId`], [`StateError`] (here): the interface.
//! - [`StateLimits`] (`limits`): the lifetimes and limits every backend holds tenants to, and
//!   the checks and errors every backend shares.
//! - [`BackendHealth`] (here): what a backend reports for readiness and metrics.
//! - [`ClaimPool`], [`ClaimOutcome`] (`claims`): claims a session holds while it notes them,
//!   counted against a cap in one update, and their in-process implementation.
//! - [`MemoryState`] (`memory`): the in-process backend, the default for one process; its
//!   config, [`MemoryStateConfig`], is its [`StateLimits`].
//!   - `keyspace`: one tenant's keys by scope, with a time-ordered index of expiries.
//!   - `journal`: the idempotency journal, and the update kinds ([`UpdateKind`]) and the
//!     mismatch error every backend shares.
//!   - `owners`: which tenant each live WCS session connected under, in process.
//!
//! Tests: the units here test the journal, the keyspace and the session owners; the suite that
//! runs every call's semantics against this backend and the Redis one side by side is
//! `hookgate-redis`'s `tests/state` (`cargo test -p hookgate-redis memory::` needs no Redis).
//!
//! # Idempotency
//!
//! WCS retries a hook it got no answer for (3 times by default), and a retried delivery runs
//! the policy again. So that it does not count twice, every update (`set`, `delete`, `incr`,
//! `compare_and_set`) carries an [`OpId`]:
//!
//! - `hook` is sha256 of the hook's method name and body bytes, so every delivery of one hook
//!   has the same digest;
//! - `seq` is the update's position among the updates of that evaluation (0, 1, …), so the
//!   n-th update of a retry is matched with the n-th update of the first delivery.
//!
//! `claim` and `release` are updates too, each one journaled as a whole.
//!
//! The backend keeps a journal of (tenant, hook, seq) → result. If it already holds a result
//! for an update's [`OpId`], it returns that result and does not apply the update again;
//! otherwise it applies the update and records the result, atomically with the lookup, so even
//! two deliveries evaluated at once apply each update once. Errors are recorded too: a retry
//! sees the same answers in the same order, which keeps the positions of its later updates
//! aligned. An update that differs in kind, scope or key from the one recorded at its position
//! fails with [`StateError::Invalid`]: the policy did not repeat itself, and the recorded answer
//! would be to another question. Reads are not journaled and see the current state. With
//! `hookgate-redis`'s `RedisState` the journal is in Redis: the deliveries of one hook may reach different
//! hookgate processes and still apply each update once.
//!
//! Journal entries expire after a window ([`StateLimits::journal_ttl`], 10 minutes by
//! default) that only has to outlast WCS's retries, which come within seconds. Two distinct
//! hooks with byte-identical bodies share a digest; WCS bodies carry session ids and
//! timestamps, so in practice they do not.

mod claims;
mod journal;
mod keyspace;
mod limits;
mod memory;
mod owners;

pub use self::claims::{ClaimOutcome, ClaimPool, NOTE_MARK};
pub use self::journal::UpdateKind;
pub use self::limits::StateLimits;
pub use self::memory::MemoryState;

use std::time::Duration;

/// The config of a [`MemoryState`]: its limits, nothing else.
pub type MemoryStateConfig = StateLimits;

/// What a backend reports about itself, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHealth {
    /// Whether the backend answered just now (always, in process).
    pub up: bool,
    /// How many state calls have failed with [`StateError::Unavailable`] since the backend was
    /// created.
    pub unavailable: u64,
    /// Why the backend was last found unreachable, by a call or by a health probe.
    pub last_error: Option<String>,
}

impl BackendHealth {
    /// A backend that is up and has never failed.
    pub const UP: BackendHealth = BackendHealth { up: true, unavailable: 0, last_error: None };
}

/// Where a key lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The tenant's own keys.
    Tenant,
    /// The keys of one WCS session (by `sessionId`).
    Session(String),
}

/// The identity of one update, for idempotency under WCS retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpId {
    /// sha256 of the hook delivery (method and body bytes).
    pub hook: [u8; 32],
    /// The update's position among the updates of that evaluation (0, 1, …).
    pub seq: u32,
}

/// Why a state call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The backend cannot be reached.
    #[error("state backend unavailable: {0}")]
    Unavailable(String),
    /// The call is invalid (sizes, quotas, a value that is not an integer).
    #[error("invalid state call: {0}")]
    Invalid(String),
}

/// A key/value backend shared by all tenants; every call names its tenant.
#[async_trait::async_trait]
pub trait StateBackend: Send + Sync {
    /// The value of `key`, if set and not expired.
    async fn get(&self, tenant: &str, scope: &Scope, key: &str) -> Result<Option<String>, StateError>;
    /// Sets `key`; `ttl` none keeps it until deleted (or its session ends).
    async fn set(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<(), StateError>;
    /// Deletes `key`; true if it existed.
    async fn delete(&self, tenant: &str, scope: &Scope, key: &str, op: OpId) -> Result<bool, StateError>;
    /// Adds `delta` to the integer at `key` (absent = 0); returns the new value. `ttl` some
    /// (re)sets its expiry.
    async fn incr(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<i64, StateError>;
    /// Sets `key` to `value` (none deletes) only if it holds `expected` (none = absent).
    #[allow(clippy::too_many_arguments)]
    async fn compare_and_set(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<bool, StateError>;
    /// Claims `name` of `pool` for `session`, if the pool has fewer than `max` live claims
    /// (see [`ClaimPool`]), as one atomic update: looks the claim up; if another session holds
    /// it and notes it, answers [`ClaimOutcome::Taken`]; unless `session` holds it already,
    /// counts the pool's live claims with its own (only if there are more than `max` claims at
    /// all does it look at their sessions, in key order, clearing the orphaned claims it meets)
    /// and answers [`ClaimOutcome::Full`] when they are over `max`; else stores the claim (the
    /// tenant key holds `session`, no expiry) and the session's note (`"1"`, the session TTL)
    /// and answers [`ClaimOutcome::Held`]. Taken or full, the session's note of `name` is
    /// deleted, and full, an orphaned claim of `name` too. Fails with the key quota's error,
    /// naming the claim's key, if the keys it would add do not fit.
    #[allow(clippy::too_many_arguments)]
    async fn claim(
        &self,
        tenant: &str,
        pool: ClaimPool<'_>,
        name: &str,
        session: &str,
        max: u32,
        op: OpId,
    ) -> Result<ClaimOutcome, StateError>;
    /// Gives back the claims of `pool` that `session` holds, as one atomic update: `name`'s, or
    /// with none every name the session notes. For each name, deletes the claim if it holds
    /// `session`, then the session's note; returns how many claims it deleted.
    async fn release(
        &self,
        tenant: &str,
        pool: ClaimPool<'_>,
        session: &str,
        name: Option<&str>,
        op: OpId,
    ) -> Result<u32, StateError>;
    /// The keys of `scope` starting with `prefix`, sorted.
    async fn keys(&self, tenant: &str, scope: &Scope, prefix: &str) -> Result<Vec<String>, StateError>;
    /// Deletes every key of a session, and the record that it connected under `tenant` (see
    /// [`StateBackend::bind_session`]) if it did; returns how many keys there were. The claims
    /// its notes name that still hold its id are deleted too (see [`ClaimPool`]).
    async fn end_session(&self, tenant: &str, session: &str) -> Result<usize, StateError>;
    /// Records that WCS session `session` connected under `tenant` (its `connect` was allowed,
    /// or WCS reported it `ESTABLISHED`), replacing any earlier record. The record goes with
    /// [`StateBackend::end_session`] for that tenant, and after [`StateLimits::session_ttl`].
    async fn bind_session(&self, tenant: &str, session: &str) -> Result<(), StateError>;
    /// The tenant `session` connected under, if it is recorded.
    async fn session_tenant(&self, session: &str) -> Result<Option<String>, StateError>;
    /// Whether the backend is reachable now, and its failures so far. A backend that runs in
    /// process is always up ([`BackendHealth::UP`]); one that runs elsewhere probes it.
    async fn health(&self) -> BackendHealth {
        BackendHealth::UP
    }
}
