//! Claims: tenant keys that a WCS session holds while it notes them, counted against a cap in
//! one atomic update ([`StateBackend::claim`], [`StateBackend::release`]), and the in-process
//! backend's implementation of both on a tenant's [`Keyspace`].
//!
//! A pool is two key prefixes: the claim of `name` is the tenant key `claims + name`, which
//! holds the id of the session that claimed it, and that session notes it in its own scope as
//! `notes + name`, whose value is [`NOTE_MARK`] and the claim's key. A claim is *live* while its
//! session still notes it. When a session ends ([`StateBackend::end_session`]), the claims its
//! notes name that still hold its id are deleted with its keys: a session's end gives its claims
//! back without a release. A claim whose note is gone otherwise (the session TTL) is *orphaned*:
//! not counted, cleared by a claim that meets it while counting, taken over by the next claim of
//! its name. Nothing is a counter, so nothing drifts.
//!
//! [`StateBackend::end_session`]: crate::StateBackend::end_session
//!
//! [`StateBackend::claim`]: crate::StateBackend::claim
//! [`StateBackend::release`]: crate::StateBackend::release

use tokio::time::Instant;

use crate::keyspace::Keyspace;
use crate::{Scope, StateError};

/// What a note's value starts with; its claim's key follows.
pub const NOTE_MARK: char = '\u{1}';

/// The two key prefixes of a pool of claims (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimPool<'a> {
    /// Prefix of the claims, tenant keys holding the claiming session's id (`stream:`).
    pub claims: &'a str,
    /// Prefix of the notes, keys of the claiming session's scope (`pub:`).
    pub notes: &'a str,
}

impl ClaimPool<'_> {
    /// The tenant key of the claim of `name`.
    pub fn claim_key(&self, name: &str) -> String {
        format!("{}{name}", self.claims)
    }

    /// The session key of the note of `name`.
    pub fn note_key(&self, name: &str) -> String {
        format!("{}{name}", self.notes)
    }
}

/// How a [`StateBackend::claim`](crate::StateBackend::claim) went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The session holds the claim: it claimed it now, or held it already. Its note is set.
    Held,
    /// Another session holds the claim and still notes it. Nothing was claimed; the session's
    /// note of the name is deleted.
    Taken,
    /// The pool already has `max` live claims. Nothing was claimed; the session's note of the
    /// name is deleted, and so is an orphaned claim of the name.
    Full,
}

/// One tenant's keys, the time and the lifetimes a claim writes with.
pub(crate) struct Claims<'a> {
    pub(crate) keys: &'a mut Keyspace,
    pub(crate) now: Instant,
    /// When a note written now expires (the session TTL).
    pub(crate) note_expiry: Option<Instant>,
}

impl Claims<'_> {
    /// [`StateBackend::claim`](crate::StateBackend::claim) on this tenant's keys; `check_quota`
    /// refuses adding keys (how many, the claim's key) to a tenant that holds as many as given.
    pub(crate) fn claim(
        &mut self,
        pool: ClaimPool<'_>,
        name: &str,
        session: &str,
        max: u32,
        check_quota: impl Fn(usize, usize, &str) -> Result<(), StateError>,
    ) -> Result<ClaimOutcome, StateError> {
        let (tenant, own) = (Scope::Tenant, Scope::Session(session.to_owned()));
        let (claim, note) = (pool.claim_key(name), pool.note_key(name));
        let owner = self.keys.get(&tenant, &claim, self.now).map(|entry| entry.value.clone());
        if let Some(owner) = owner.as_deref()
            && owner != session
            && self.notes(pool, owner, name)
        {
            self.keys.remove(&own, &note, self.now);
            return Ok(ClaimOutcome::Taken);
        }
        if owner.as_deref() != Some(session) && self.over(pool, &claim, session, max, owner.is_none()) {
            if owner.is_some() {
                self.keys.remove(&tenant, &claim, self.now);
            }
            self.keys.remove(&own, &note, self.now);
            return Ok(ClaimOutcome::Full);
        }
        let added = usize::from(self.keys.get(&own, &note, self.now).is_none()) + usize::from(owner.is_none());
        if added > 0 {
            check_quota(self.keys.len(), added, &claim)?;
        }
        if owner.as_deref() != Some(session) {
            self.keys.put(&tenant, &claim, session.to_owned(), None);
        }
        self.keys.put(&own, &note, format!("{NOTE_MARK}{claim}"), self.note_expiry);
        Ok(ClaimOutcome::Held)
    }

    /// [`StateBackend::release`](crate::StateBackend::release) on this tenant's keys.
    pub(crate) fn release(&mut self, pool: ClaimPool<'_>, session: &str, name: Option<&str>) -> u32 {
        let own = Scope::Session(session.to_owned());
        let names = match name {
            Some(name) => vec![name.to_owned()],
            None => {
                let noted = self.keys.keys(&own, pool.notes, self.now);
                noted.into_iter().map(|note| note[pool.notes.len()..].to_owned()).collect()
            }
        };
        let mut given_back = 0;
        for name in names {
            let claim = pool.claim_key(&name);
            if self.keys.get(&Scope::Tenant, &claim, self.now).is_some_and(|entry| entry.value == session) {
                self.keys.remove(&Scope::Tenant, &claim, self.now);
                given_back += 1;
            }
            self.keys.remove(&own, &pool.note_key(&name), self.now);
        }
        given_back
    }

    /// Gives back the claims that the notes of `session` name and that still hold its id, before
    /// the session's keys are deleted.
    pub(crate) fn end(&mut self, session: &str) {
        let own = Scope::Session(session.to_owned());
        for key in self.keys.keys(&own, "", self.now) {
            let noted = self.keys.get(&own, &key, self.now).and_then(|entry| entry.value.strip_prefix(NOTE_MARK));
            let Some(claim) = noted.map(str::to_owned) else { continue };
            if self.keys.get(&Scope::Tenant, &claim, self.now).is_some_and(|entry| entry.value == session) {
                self.keys.remove(&Scope::Tenant, &claim, self.now);
            }
        }
    }

    /// Whether `session` notes `name`.
    fn notes(&self, pool: ClaimPool<'_>, session: &str, name: &str) -> bool {
        self.keys.get(&Scope::Session(session.to_owned()), &pool.note_key(name), self.now).is_some()
    }

    /// Whether the live claims of the pool, with `session`'s claim `claim` among them (`absent`:
    /// not stored yet), are more than `max`. Only when there are more claims than that does it
    /// look at their sessions, in key order, up to the first `max` live ones besides `claim`,
    /// clearing the orphaned claims it meets.
    fn over(&mut self, pool: ClaimPool<'_>, claim: &str, session: &str, max: u32, absent: bool) -> bool {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let listed = self.keys.keys(&Scope::Tenant, pool.claims, self.now);
        if listed.len() + usize::from(absent) <= max {
            return false;
        }
        let mut live = 1;
        for other in listed.iter().filter(|other| *other != claim) {
            if live > max {
                break;
            }
            let Some(owner) = self.keys.get(&Scope::Tenant, other, self.now).map(|entry| entry.value.clone()) else {
                continue;
            };
            if owner == session || self.notes(pool, &owner, &other[pool.claims.len()..]) {
                live += 1;
            } else {
                self.keys.remove(&Scope::Tenant, other, self.now);
            }
        }
        live > max
    }
}
