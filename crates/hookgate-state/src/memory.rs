//! [`MemoryState`]: the in-process backend, for one hookgate process (the default).
//!
//! Each tenant has its own keyspace and idempotency journal behind its own mutex: a call locks
//! one tenant, removes some of what has expired there (through time-ordered indexes), then
//! runs to completion without awaiting. That makes every update atomic, including the journal
//! lookup, the update and the record, so two concurrent deliveries of one hook apply it once.
//! Tenants share nothing but a brief read lock on the map of tenants.
//!
//! There is no background task: expired keys and journal entries are removed by the calls for
//! the same tenant, at most [`SWEEP_BUDGET`] of each per call so that no call holds the lock
//! for long after a mass expiry (a busy tenant's journal after a quiet night). A call adds at
//! most one key and one journal entry, so the backlog always drains; until then expired
//! entries are invisible. What an idle tenant keeps is bounded by the limits it was held to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::claims::Claims;
use crate::journal::{Call, Journal, Outcome};
use crate::keyspace::Keyspace;
use crate::owners::Owners;
use crate::{ClaimOutcome, ClaimPool, MemoryStateConfig, OpId, Scope, StateBackend, StateError, UpdateKind};

/// How many expired keys, and how many expired journal hooks, one call removes at most.
const SWEEP_BUDGET: usize = 64;

/// The in-process [`StateBackend`]: all tenants' keys in this process's memory.
///
/// # Expiry
///
/// - `set` and a successful `compare_and_set` that stores a value replace the key's expiry:
///   with `ttl`, or none (`set` without a TTL makes a key permanent again, as in Redis).
/// - `incr` with a TTL resets the expiry; without one it keeps the key's current expiry (a new
///   key gets none).
/// - A zero TTL means none, as `ttl-ms` 0 does in the WIT.
/// - Session-scoped keys get at most [`StateLimits::session_ttl`](crate::StateLimits::session_ttl)
///   whenever they are given an expiry, including none: a shorter TTL wins, a longer one or none
///   is capped.
/// - An expired key is absent to every call, and no longer counts toward the key quota.
///
/// Time is [`tokio::time::Instant`], so tests drive expiry with `tokio::time::pause` and
/// `advance`. Outside a runtime it is the system's monotonic clock.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hookgate_state::StateError> {
/// use hookgate_state::{MemoryState, MemoryStateConfig, OpId, Scope, StateBackend};
///
/// let state = MemoryState::new(MemoryStateConfig::default());
/// // The first update of a hook delivery (`hook` is sha256 of its method and body).
/// let op = OpId { hook: [7; 32], seq: 0 };
/// assert_eq!(state.incr("tenant", &Scope::Tenant, "publishers", 1, None, op).await?, 1);
/// // WCS retries the same hook: the update is replayed, not applied again.
/// assert_eq!(state.incr("tenant", &Scope::Tenant, "publishers", 1, None, op).await?, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryState {
    config: MemoryStateConfig,
    /// Tenant name → its keys and journal. Entries are created by a tenant's first update and
    /// never removed: tenants come from the policy tree, so there are few of them.
    tenants: RwLock<HashMap<String, Arc<Mutex<Tenant>>>>,
    /// Which tenant each live session connected under.
    owners: Mutex<Owners>,
}

/// One tenant's part of the store.
#[derive(Debug)]
struct Tenant {
    keys: Keyspace,
    journal: Journal,
}

impl MemoryState {
    /// A new, empty store.
    pub fn new(config: MemoryStateConfig) -> Arc<Self> {
        Arc::new(MemoryState { config, tenants: RwLock::new(HashMap::new()), owners: Mutex::default() })
    }

    /// Runs `f` on the tenant's keys and the time; none if the tenant has no keys yet.
    fn with_keys<T>(&self, tenant: &str, f: impl FnOnce(&mut Keyspace, Instant) -> T) -> Option<T> {
        let shared = self.tenants.read().unwrap_or_else(PoisonError::into_inner).get(tenant).cloned()?;
        let mut tenant = lock(&shared);
        let now = Instant::now();
        tenant.sweep(now);
        Some(f(&mut tenant.keys, now))
    }

    /// Runs the update `call` once per `op`: replays the recorded result if there is one, else
    /// applies `apply` and records what it returned, all under the tenant's lock.
    fn update<T: Outcome + Clone>(
        &self,
        tenant: &str,
        op: OpId,
        call: Call,
        apply: impl FnOnce(&mut Keyspace, Instant) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let shared = self.tenant(tenant);
        let mut tenant = lock(&shared);
        let now = Instant::now();
        tenant.sweep(now);
        if let Some(recorded) = tenant.journal.replay(now, op, call) {
            return recorded;
        }
        let result = apply(&mut tenant.keys, now);
        tenant.journal.record(now, op, call, result.clone().map(T::into_value));
        result
    }

    /// The tenant's part of the store, created if it has none yet.
    fn tenant(&self, tenant: &str) -> Arc<Mutex<Tenant>> {
        if let Some(shared) = self.tenants.read().unwrap_or_else(PoisonError::into_inner).get(tenant) {
            return Arc::clone(shared);
        }
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        let shared = tenants.entry(tenant.to_owned()).or_insert_with(|| {
            Arc::new(Mutex::new(Tenant { keys: Keyspace::default(), journal: Journal::new(self.config.journal_ttl) }))
        });
        Arc::clone(shared)
    }

    /// Checks that a tenant holding `held` keys may add `adding` more, `key` among them, which it
    /// does not hold yet. Expired keys not yet
    /// swept never cause a refusal: the call's sweep removed some if any were left, and a tenant
    /// at the limit less one removed key is below it.
    fn check_quota(&self, tenant: &str, held: usize, adding: usize, key: &str) -> Result<(), StateError> {
        let max = self.config.max_keys_per_tenant;
        if held + adding > max {
            return Err(StateError::quota_exceeded(tenant, held, max, key));
        }
        Ok(())
    }

    /// When a key of `scope` written at `now` with `ttl` expires; none if never or too far
    /// ahead to represent.
    fn expiry(&self, now: Instant, scope: &Scope, ttl: Option<Duration>) -> Option<Instant> {
        self.config.lifetime(scope, ttl).and_then(|lifetime| now.checked_add(lifetime))
    }
}

impl Tenant {
    fn sweep(&mut self, now: Instant) {
        self.keys.sweep(now, SWEEP_BUDGET);
        self.journal.sweep(now, SWEEP_BUDGET);
    }
}

/// Locks a tenant. A panic while it was held cannot leave it half-updated in a way that
/// matters (the expiry sweep tolerates stale index entries), so a poisoned lock is taken as is
/// rather than making the tenant's state unusable.
fn lock(tenant: &Mutex<Tenant>) -> MutexGuard<'_, Tenant> {
    tenant.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait::async_trait]
impl StateBackend for MemoryState {
    async fn get(&self, tenant: &str, scope: &Scope, key: &str) -> Result<Option<String>, StateError> {
        self.config.check_key(scope, key)?;
        Ok(self.with_keys(tenant, |keys, now| keys.get(scope, key, now).map(|entry| entry.value.clone())).flatten())
    }

    async fn set(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<(), StateError> {
        self.config.check_key(scope, key)?;
        self.config.check_value(key, value)?;
        self.update(tenant, op, Call::new(UpdateKind::Set, scope, key), |keys, now| {
            if keys.get(scope, key, now).is_none() {
                self.check_quota(tenant, keys.len(), 1, key)?;
            }
            keys.put(scope, key, value.to_owned(), self.expiry(now, scope, ttl));
            Ok(())
        })
    }

    async fn delete(&self, tenant: &str, scope: &Scope, key: &str, op: OpId) -> Result<bool, StateError> {
        self.config.check_key(scope, key)?;
        self.update(tenant, op, Call::new(UpdateKind::Delete, scope, key), |keys, now| {
            Ok(keys.remove(scope, key, now).is_some())
        })
    }

    async fn incr(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<i64, StateError> {
        self.config.check_key(scope, key)?;
        self.update(tenant, op, Call::new(UpdateKind::Incr, scope, key), |keys, now| {
            let (current, expires_at) = match keys.get(scope, key, now) {
                Some(entry) => {
                    let current = entry.value.parse::<i64>().map_err(|_| StateError::not_an_integer(key))?;
                    (current, entry.expires_at)
                }
                None => {
                    self.check_quota(tenant, keys.len(), 1, key)?;
                    (0, self.expiry(now, scope, None))
                }
            };
            let next = current.checked_add(delta).ok_or_else(|| StateError::overflow(key, current, delta))?;
            let expires_at = match ttl.filter(|ttl| !ttl.is_zero()) {
                Some(_) => self.expiry(now, scope, ttl),
                None => expires_at,
            };
            keys.put(scope, key, next.to_string(), expires_at);
            Ok(next)
        })
    }

    async fn compare_and_set(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<bool, StateError> {
        self.config.check_key(scope, key)?;
        if let Some(value) = value {
            self.config.check_value(key, value)?;
        }
        self.update(tenant, op, Call::new(UpdateKind::CompareAndSet, scope, key), |keys, now| {
            let current = keys.get(scope, key, now).map(|entry| entry.value.as_str());
            if current != expected {
                return Ok(false);
            }
            let exists = current.is_some();
            match value {
                Some(value) => {
                    if !exists {
                        self.check_quota(tenant, keys.len(), 1, key)?;
                    }
                    keys.put(scope, key, value.to_owned(), self.expiry(now, scope, ttl));
                }
                None => {
                    keys.remove(scope, key, now);
                }
            }
            Ok(true)
        })
    }

    async fn claim(
        &self,
        tenant: &str,
        pool: ClaimPool<'_>,
        name: &str,
        session: &str,
        max: u32,
        op: OpId,
    ) -> Result<ClaimOutcome, StateError> {
        let (claim, own) = self.config.check_claim(pool, name, session)?;
        self.update(tenant, op, Call::new(UpdateKind::Claim, &Scope::Tenant, &claim), |keys, now| {
            let note_expiry = self.expiry(now, &own, None);
            let check_quota = |held, adding, key: &str| self.check_quota(tenant, held, adding, key);
            Claims { keys, now, note_expiry }.claim(pool, name, session, max, check_quota)
        })
    }

    async fn release(
        &self,
        tenant: &str,
        pool: ClaimPool<'_>,
        session: &str,
        name: Option<&str>,
        op: OpId,
    ) -> Result<u32, StateError> {
        let own = Scope::Session(session.to_owned());
        let call = match name {
            Some(name) => {
                self.config.check_key(&own, &pool.note_key(name))?;
                let claim = pool.claim_key(name);
                self.config.check_key(&Scope::Tenant, &claim)?;
                Call::new(UpdateKind::Release, &Scope::Tenant, &claim)
            }
            None => {
                self.config.check_key(&own, pool.notes)?;
                Call::new(UpdateKind::Release, &own, pool.notes)
            }
        };
        self.update(tenant, op, call, |keys, now| {
            Ok(Claims { keys, now, note_expiry: None }.release(pool, session, name))
        })
    }

    async fn keys(&self, tenant: &str, scope: &Scope, prefix: &str) -> Result<Vec<String>, StateError> {
        self.config.check_scope(scope)?;
        Ok(self.with_keys(tenant, |keys, now| keys.keys(scope, prefix, now)).unwrap_or_default())
    }

    async fn end_session(&self, tenant: &str, session: &str) -> Result<usize, StateError> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner).end(tenant, session, Instant::now());
        let scope = Scope::Session(session.to_owned());
        let cleared = self.with_keys(tenant, |keys, now| {
            Claims { keys: &mut *keys, now, note_expiry: None }.end(session);
            keys.clear(&scope, now)
        });
        Ok(cleared.unwrap_or(0))
    }

    async fn bind_session(&self, tenant: &str, session: &str) -> Result<(), StateError> {
        self.config.check_scope(&Scope::Session(session.to_owned()))?;
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners.bind(tenant, session, Instant::now(), self.config.session_ttl);
        Ok(())
    }

    async fn session_tenant(&self, session: &str) -> Result<Option<String>, StateError> {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(owners.tenant(session, Instant::now()).map(str::to_owned))
    }
}
