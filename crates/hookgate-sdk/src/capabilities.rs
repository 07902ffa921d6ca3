//! The capabilities a manifest may grant (`capabilities = ["state", "notify", "send-data"]`).
//!
//! On wasm32 each call is one host call; a module that uses a capability imports it, and
//! hookgate refuses to load it unless its manifest grants that capability. Natively (tests) the
//! calls reach a per-thread stand-in: an in-memory key/value map without TTLs and capture
//! buffers for notifications and messages ([`take_notified`], [`take_sent`], [`reset`]).

use std::fmt;

/// Where a state key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The tenant's own keys.
    Tenant,
    /// One WCS session's keys: deleted when WCS reports the session DISCONNECTED or FAILED.
    Session(&'a str),
}

/// A pool of claims (`state::claim`): the claim of a name is the tenant key `claims` + name,
/// holding the id of the session that claimed it, noted by that session as its key `notes` +
/// name. A claim is live while its session notes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimPool<'a> {
    /// Prefix of the claims (tenant keys).
    pub claims: &'a str,
    /// Prefix of the notes (keys of the claiming session).
    pub notes: &'a str,
}

impl ClaimPool<'_> {
    /// The tenant key of the claim of `name`.
    #[cfg(not(target_arch = "wasm32"))]
    fn claim_key(&self, name: &str) -> String {
        format!("{}{name}", self.claims)
    }

    /// The session key of the note of `name`.
    #[cfg(not(target_arch = "wasm32"))]
    fn note_key(&self, name: &str) -> String {
        format!("{}{name}", self.notes)
    }
}

/// How a `state::claim` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The session holds the claim: it claimed it now, or held it already.
    Held,
    /// Another session holds it and still notes it: nothing was claimed.
    Taken,
    /// The pool already has `max` live claims: nothing was claimed.
    Full,
}

/// Why a state call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The backend cannot be reached.
    Unavailable(String),
    /// The call is invalid (sizes, quotas, a value that is not an integer).
    Invalid(String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Unavailable(reason) => write!(f, "state unavailable: {reason}"),
            StateError::Invalid(reason) => write!(f, "invalid state call: {reason}"),
        }
    }
}

/// The `state` capability: a tenant-scoped key/value store. Updates are applied once per hook
/// delivery, even when WCS retries the hook.
pub mod state {
    use super::{ClaimOutcome, ClaimPool, Scope, StateError, imp};

    /// The value of `key`, if set and not expired.
    pub fn get(scope: Scope<'_>, key: &str) -> Result<Option<String>, StateError> {
        imp::get(scope, key)
    }

    /// Sets `key`; `ttl_ms` 0 keeps it until deleted (or its session ends).
    pub fn set(scope: Scope<'_>, key: &str, value: &str, ttl_ms: u64) -> Result<(), StateError> {
        imp::set(scope, key, value, ttl_ms)
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(scope: Scope<'_>, key: &str) -> Result<bool, StateError> {
        imp::delete(scope, key)
    }

    /// Adds `delta` to the integer at `key` (absent = 0); returns the new value.
    pub fn incr(scope: Scope<'_>, key: &str, delta: i64, ttl_ms: u64) -> Result<i64, StateError> {
        imp::incr(scope, key, delta, ttl_ms)
    }

    /// Sets `key` to `value` (none deletes) only if it holds `expected` (none = absent).
    pub fn compare_and_set(
        scope: Scope<'_>,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
        ttl_ms: u64,
    ) -> Result<bool, StateError> {
        imp::compare_and_set(scope, key, expected, value, ttl_ms)
    }

    /// The keys of `scope` starting with `prefix`, sorted.
    pub fn keys(scope: Scope<'_>, prefix: &str) -> Result<Vec<String>, StateError> {
        imp::keys(scope, prefix)
    }

    /// Claims `name` of `pool` for `session` if the pool has fewer than `max` live claims, in
    /// one atomic update (one round trip to Redis). Taken or full, the session's note of `name`
    /// is deleted, and full, an orphaned claim of `name`.
    pub fn claim(pool: ClaimPool<'_>, name: &str, session: &str, max: u32) -> Result<ClaimOutcome, StateError> {
        imp::claim(pool, name, session, max)
    }

    /// Gives back `name`'s claim, or with none every claim `session` notes, in one atomic
    /// update: deletes each claim that holds `session`, and the notes; how many claims it
    /// deleted.
    pub fn release(pool: ClaimPool<'_>, session: &str, name: Option<&str>) -> Result<u32, StateError> {
        imp::release(pool, session, name)
    }
}

/// The `notify` capability: publishes `{"type", "id", "data"}` to the tenant's WebSocket
/// subscribers once the hook is answered; `data` must be JSON.
pub fn notify(event_type: &str, id: &str, data: &str) -> Result<(), String> {
    imp::notify(event_type, id, data)
}

/// The `send-data` capability: queues a WCS `/rest-api/data/send` call to `session_id` on the
/// node that sent the hook, made once the hook is answered; `payload` must be JSON.
pub fn send_data(session_id: &str, payload: &str) -> Result<(), String> {
    imp::send_data(session_id, payload)
}

/// Natively: takes (and clears) the notifications queued on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_notified() -> Vec<(String, String, String)> {
    imp::with(|stand_in| std::mem::take(&mut stand_in.notified))
}

/// Natively: takes (and clears) the messages queued on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_sent() -> Vec<(String, String)> {
    imp::with(|stand_in| std::mem::take(&mut stand_in.sent))
}

/// Natively: what hookgate does once the chain of a session's `ConnectionStatusEvent`
/// DISCONNECTED or FAILED has run: gives back the claims the session's notes name that still
/// hold its id, then deletes the session's keys.
#[cfg(not(target_arch = "wasm32"))]
pub fn end_session(session: &str) {
    imp::with(|stand_in| {
        let ended = |(owner, _): &(Option<String>, String)| owner.as_deref() == Some(session);
        let notes: Vec<String> = stand_in.keys.iter().filter(|(at, _)| ended(at)).map(|(_, v)| v.clone()).collect();
        for claim in notes.iter().filter_map(|value| value.strip_prefix('\u{1}')) {
            let at = (None, claim.to_owned());
            if stand_in.keys.get(&at).map(String::as_str) == Some(session) {
                stand_in.keys.remove(&at);
            }
        }
        stand_in.keys.retain(|at, _| !ended(at));
    });
}

/// Natively: forgets this thread's state keys, notifications and messages.
#[cfg(not(target_arch = "wasm32"))]
pub fn reset() {
    imp::with(|stand_in| *stand_in = imp::StandIn::default());
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{ClaimOutcome, ClaimPool, Scope, StateError};
    use crate::guest::bindings::hookgate::policy::{notify as n, send_data as s, state as st};

    fn scope(scope: Scope<'_>) -> st::Scope {
        match scope {
            Scope::Tenant => st::Scope::Tenant,
            Scope::Session(session) => st::Scope::Session(session.to_owned()),
        }
    }

    fn error(err: st::StateError) -> StateError {
        match err {
            st::StateError::Unavailable(reason) => StateError::Unavailable(reason),
            st::StateError::Invalid(reason) => StateError::Invalid(reason),
        }
    }

    pub(super) fn get(sc: Scope<'_>, key: &str) -> Result<Option<String>, StateError> {
        st::get(&scope(sc), key).map_err(error)
    }

    pub(super) fn set(sc: Scope<'_>, key: &str, value: &str, ttl_ms: u64) -> Result<(), StateError> {
        st::set(&scope(sc), key, value, ttl_ms).map_err(error)
    }

    pub(super) fn delete(sc: Scope<'_>, key: &str) -> Result<bool, StateError> {
        st::delete(&scope(sc), key).map_err(error)
    }

    pub(super) fn incr(sc: Scope<'_>, key: &str, delta: i64, ttl_ms: u64) -> Result<i64, StateError> {
        st::incr(&scope(sc), key, delta, ttl_ms).map_err(error)
    }

    pub(super) fn compare_and_set(
        sc: Scope<'_>,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
        ttl_ms: u64,
    ) -> Result<bool, StateError> {
        st::compare_and_set(&scope(sc), key, expected, value, ttl_ms).map_err(error)
    }

    pub(super) fn keys(sc: Scope<'_>, prefix: &str) -> Result<Vec<String>, StateError> {
        st::keys(&scope(sc), prefix).map_err(error)
    }

    fn pool(pool: ClaimPool<'_>) -> st::ClaimPool {
        st::ClaimPool { claims: pool.claims.to_owned(), notes: pool.notes.to_owned() }
    }

    pub(super) fn claim(p: ClaimPool<'_>, name: &str, session: &str, max: u32) -> Result<ClaimOutcome, StateError> {
        Ok(match st::claim(&pool(p), name, session, max).map_err(error)? {
            st::ClaimOutcome::Held => ClaimOutcome::Held,
            st::ClaimOutcome::Taken => ClaimOutcome::Taken,
            st::ClaimOutcome::Full => ClaimOutcome::Full,
        })
    }

    pub(super) fn release(p: ClaimPool<'_>, session: &str, name: Option<&str>) -> Result<u32, StateError> {
        st::release(&pool(p), session, name).map_err(error)
    }

    pub(super) fn notify(event_type: &str, id: &str, data: &str) -> Result<(), String> {
        n::publish(event_type, id, data)
    }

    pub(super) fn send_data(session_id: &str, payload: &str) -> Result<(), String> {
        s::send(session_id, payload)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{ClaimOutcome, ClaimPool, Scope, StateError};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// This thread's stand-in for the host.
    #[derive(Default)]
    pub(super) struct StandIn {
        pub(super) keys: BTreeMap<(Option<String>, String), String>,
        pub(super) notified: Vec<(String, String, String)>,
        pub(super) sent: Vec<(String, String)>,
    }

    thread_local! {
        static STAND_IN: RefCell<StandIn> = RefCell::new(StandIn::default());
    }

    pub(super) fn with<R>(f: impl FnOnce(&mut StandIn) -> R) -> R {
        STAND_IN.with(|stand_in| f(&mut stand_in.borrow_mut()))
    }

    fn at(scope: Scope<'_>, key: &str) -> (Option<String>, String) {
        match scope {
            Scope::Tenant => (None, key.to_owned()),
            Scope::Session(session) => (Some(session.to_owned()), key.to_owned()),
        }
    }

    pub(super) fn get(scope: Scope<'_>, key: &str) -> Result<Option<String>, StateError> {
        Ok(with(|s| s.keys.get(&at(scope, key)).cloned()))
    }

    pub(super) fn set(scope: Scope<'_>, key: &str, value: &str, _ttl_ms: u64) -> Result<(), StateError> {
        with(|s| s.keys.insert(at(scope, key), value.to_owned()));
        Ok(())
    }

    pub(super) fn delete(scope: Scope<'_>, key: &str) -> Result<bool, StateError> {
        Ok(with(|s| s.keys.remove(&at(scope, key)).is_some()))
    }

    pub(super) fn incr(scope: Scope<'_>, key: &str, delta: i64, _ttl_ms: u64) -> Result<i64, StateError> {
        with(|s| {
            let slot = s.keys.entry(at(scope, key)).or_insert_with(|| "0".to_owned());
            let value: i64 = slot.parse().map_err(|_| StateError::Invalid(format!("'{key}' is not an integer")))?;
            let next = value.saturating_add(delta);
            *slot = next.to_string();
            Ok(next)
        })
    }

    pub(super) fn compare_and_set(
        scope: Scope<'_>,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
        _ttl_ms: u64,
    ) -> Result<bool, StateError> {
        with(|s| {
            let at = at(scope, key);
            if s.keys.get(&at).map(String::as_str) != expected {
                return Ok(false);
            }
            match value {
                Some(value) => s.keys.insert(at, value.to_owned()),
                None => s.keys.remove(&at),
            };
            Ok(true)
        })
    }

    pub(super) fn keys(scope: Scope<'_>, prefix: &str) -> Result<Vec<String>, StateError> {
        let session = match scope {
            Scope::Tenant => None,
            Scope::Session(session) => Some(session.to_owned()),
        };
        Ok(with(|s| {
            s.keys
                .keys()
                .filter(|(owner, key)| *owner == session && key.starts_with(prefix))
                .map(|(_, key)| key.clone())
                .collect()
        }))
    }

    /// As the host's claim, without the key quota: built on the calls above.
    pub(super) fn claim(pool: ClaimPool<'_>, name: &str, session: &str, max: u32) -> Result<ClaimOutcome, StateError> {
        let (claim, note) = (pool.claim_key(name), pool.note_key(name));
        let owner = get(Scope::Tenant, &claim)?;
        let noted = |owner: &str, name: &str| get(Scope::Session(owner), &pool.note_key(name));
        if let Some(owner) = owner.as_deref()
            && owner != session
            && noted(owner, name)?.is_some()
        {
            delete(Scope::Session(session), &note)?;
            return Ok(ClaimOutcome::Taken);
        }
        if owner.as_deref() != Some(session) {
            let listed = keys(Scope::Tenant, pool.claims)?;
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            let mut live = 1;
            if listed.len() + usize::from(owner.is_none()) > max {
                for other in listed.iter().filter(|other| **other != claim) {
                    if live > max {
                        break;
                    }
                    let Some(holder) = get(Scope::Tenant, other)? else { continue };
                    if holder == session || noted(&holder, &other[pool.claims.len()..])?.is_some() {
                        live += 1;
                    } else {
                        delete(Scope::Tenant, other)?;
                    }
                }
            }
            if live > max {
                if owner.is_some() {
                    delete(Scope::Tenant, &claim)?;
                }
                delete(Scope::Session(session), &note)?;
                return Ok(ClaimOutcome::Full);
            }
        }
        set(Scope::Tenant, &claim, session, 0)?;
        set(Scope::Session(session), &note, &format!("\u{1}{claim}"), 0)?;
        Ok(ClaimOutcome::Held)
    }

    /// As the host's release, built on the calls above.
    pub(super) fn release(pool: ClaimPool<'_>, session: &str, name: Option<&str>) -> Result<u32, StateError> {
        let names = match name {
            Some(name) => vec![name.to_owned()],
            None => keys(Scope::Session(session), pool.notes)?
                .iter()
                .map(|key| key[pool.notes.len()..].to_owned())
                .collect(),
        };
        let mut given_back = 0;
        for name in names {
            let claim = pool.claim_key(&name);
            if compare_and_set(Scope::Tenant, &claim, Some(session), None, 0)? {
                given_back += 1;
            }
            delete(Scope::Session(session), &pool.note_key(&name))?;
        }
        Ok(given_back)
    }

    pub(super) fn notify(event_type: &str, id: &str, data: &str) -> Result<(), String> {
        serde_json::from_str::<serde_json::Value>(data).map_err(|err| format!("not JSON: {err}"))?;
        with(|s| s.notified.push((event_type.to_owned(), id.to_owned(), data.to_owned())));
        Ok(())
    }

    pub(super) fn send_data(session_id: &str, payload: &str) -> Result<(), String> {
        serde_json::from_str::<serde_json::Value>(payload).map_err(|err| format!("not JSON: {err}"))?;
        with(|s| s.sent.push((session_id.to_owned(), payload.to_owned())));
        Ok(())
    }
}
