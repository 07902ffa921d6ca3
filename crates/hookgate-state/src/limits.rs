//! [`StateLimits`]: the lifetimes and limits every backend holds tenants to, and the checks and
//! error messages the backends share, so that both refuse the same calls with the same words.

use std::time::Duration;

use crate::{Scope, StateError};

/// The lifetimes and limits a backend holds every tenant to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLimits {
    /// The longest a session-scoped key lives after it was last given an expiry (by `set`,
    /// `compare_and_set`, `incr` with a TTL, or its creation), whatever TTL it was set with:
    /// session keys go when WCS reports the session gone, and this bounds them if it never does.
    pub session_ttl: Duration,
    /// How long the result of an update is remembered for replay, from the first update of its
    /// hook delivery. WCS retries within seconds; the window only has to outlast them. Memory:
    /// in process, about 240 bytes per hook delivery that updates state, plus about 60 per
    /// further update, so 1,000 such hooks/s hold about 150 MB with the default window; in
    /// Redis about 430 bytes per such hook delivery, so about 260 MB (both measured).
    pub journal_ttl: Duration,
    /// The longest key, in bytes. Also bounds session ids.
    pub max_key_bytes: usize,
    /// The longest value, in bytes.
    pub max_value_bytes: usize,
    /// The most keys one tenant may hold, across its own scope and all its sessions.
    pub max_keys_per_tenant: usize,
}

impl Default for StateLimits {
    /// 24 h session TTL, a 10 min journal, 256-byte keys, 64 KiB values, 100,000 keys per tenant.
    fn default() -> Self {
        StateLimits {
            session_ttl: Duration::from_secs(24 * 60 * 60),
            journal_ttl: Duration::from_secs(10 * 60),
            max_key_bytes: 256,
            max_value_bytes: 64 * 1024,
            max_keys_per_tenant: 100_000,
        }
    }
}

impl StateLimits {
    /// Checks the keys a claim of `name` by `session` writes (the tenant's claim key and the
    /// session's note key); gives back the claim's key and the session's scope.
    pub fn check_claim(
        &self,
        pool: crate::ClaimPool<'_>,
        name: &str,
        session: &str,
    ) -> Result<(String, Scope), StateError> {
        let (claim, own) = (pool.claim_key(name), Scope::Session(session.to_owned()));
        self.check_key(&Scope::Tenant, &claim)?;
        self.check_key(&own, &pool.note_key(name))?;
        Ok((claim, own))
    }

    /// Checks the sizes of `key` and of the session id of `scope`.
    pub fn check_key(&self, scope: &Scope, key: &str) -> Result<(), StateError> {
        self.check_scope(scope)?;
        let max = self.max_key_bytes;
        if key.len() > max {
            return Err(StateError::Invalid(format!("key is {} bytes; the limit is {max} bytes", key.len())));
        }
        Ok(())
    }

    /// Checks the size of the session id of `scope`: it is stored with every key of the session.
    pub fn check_scope(&self, scope: &Scope) -> Result<(), StateError> {
        let max = self.max_key_bytes;
        match scope {
            Scope::Session(session) if session.len() > max => {
                Err(StateError::Invalid(format!("session id is {} bytes; the limit is {max} bytes", session.len())))
            }
            _ => Ok(()),
        }
    }

    /// Checks the size of a value about to be stored at `key`.
    pub fn check_value(&self, key: &str, value: &str) -> Result<(), StateError> {
        let max = self.max_value_bytes;
        if value.len() > max {
            return Err(StateError::Invalid(format!(
                "value for key {key:?} is {} bytes; the limit is {max} bytes",
                value.len()
            )));
        }
        Ok(())
    }

    /// How long a key of `scope` written with `ttl` lives; none: until deleted. A zero TTL means
    /// none, as in the WIT (`ttl-ms` 0); session keys never outlive the session TTL.
    pub fn lifetime(&self, scope: &Scope, ttl: Option<Duration>) -> Option<Duration> {
        let ttl = ttl.filter(|ttl| !ttl.is_zero());
        match scope {
            Scope::Tenant => ttl,
            Scope::Session(_) => {
                let cap = self.session_ttl;
                Some(ttl.map_or(cap, |ttl| ttl.min(cap)))
            }
        }
    }
}

impl StateError {
    /// The error of adding `key` to a tenant that holds `held` keys, `max` at most.
    pub fn quota_exceeded(tenant: &str, held: usize, max: usize, key: &str) -> StateError {
        StateError::Invalid(format!(
            "tenant {tenant:?} holds {held} keys, the limit is {max}: cannot add key {key:?} \
             (delete keys or give them a TTL)"
        ))
    }

    /// The error of incrementing a key that does not hold an integer.
    pub fn not_an_integer(key: &str) -> StateError {
        StateError::Invalid(format!("key {key:?} holds a value that is not a 64-bit integer"))
    }

    /// The error of an increment past the range of `i64`.
    pub fn overflow(key: &str, current: i64, delta: i64) -> StateError {
        StateError::Invalid(format!("incr of key {key:?} ({current}) by {delta} overflows a 64-bit integer"))
    }
}
