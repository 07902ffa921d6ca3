//! Which tenant each live WCS session connected under, for [`MemoryState`](crate::MemoryState):
//! what lets `send-data` reach only a tenant's own sessions.
//!
//! Every record lives [`StateLimits::session_ttl`](crate::StateLimits::session_ttl) from its
//! last binding, so records expire in the order they were made: a queue in that order finds
//! them. At most [`MAX_SESSIONS`] are kept; past that the oldest goes first (its sessions then
//! receive no messages, never another tenant's).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// The most sessions recorded at once (about 150 bytes each).
pub(crate) const MAX_SESSIONS: usize = 262_144;

/// The records, and the order they expire in.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    /// Session → (tenant, when the record expires).
    by_session: HashMap<String, (String, Instant)>,
    /// (expiry, session) in binding order; an entry whose expiry no longer matches the
    /// session's record is stale (the session was bound again, or ended) and skipped.
    order: VecDeque<(Instant, String)>,
}

impl Owners {
    /// Records `session` under `tenant` until `now + ttl`.
    pub(crate) fn bind(&mut self, tenant: &str, session: &str, now: Instant, ttl: Duration) {
        self.sweep(now);
        let expires = now.checked_add(ttl).unwrap_or(now + Duration::from_secs(365 * 24 * 3600));
        self.by_session.insert(session.to_owned(), (tenant.to_owned(), expires));
        self.order.push_back((expires, session.to_owned()));
        while self.by_session.len() > MAX_SESSIONS {
            self.pop_oldest();
        }
        if self.order.len() > 2 * MAX_SESSIONS {
            // Rebinding the same sessions leaves stale entries: rebuild the queue from the records.
            let mut live: Vec<_> =
                self.by_session.iter().map(|(session, (_, expires))| (*expires, session.clone())).collect();
            live.sort();
            self.order = live.into();
        }
    }

    /// The tenant `session` connected under, if recorded and not expired.
    pub(crate) fn tenant(&self, session: &str, now: Instant) -> Option<&str> {
        let (tenant, expires) = self.by_session.get(session)?;
        (*expires > now).then_some(tenant.as_str())
    }

    /// Forgets `session` if it is recorded under `tenant`.
    pub(crate) fn end(&mut self, tenant: &str, session: &str, now: Instant) {
        self.sweep(now);
        if self.by_session.get(session).is_some_and(|(owner, _)| owner == tenant) {
            self.by_session.remove(session);
        }
    }

    /// Removes the records that expired by `now`.
    fn sweep(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(expires, _)| *expires <= now) {
            self.pop_oldest();
        }
    }

    /// Removes the oldest queue entry, and its record if the entry is not stale.
    fn pop_oldest(&mut self) {
        if let Some((expires, session)) = self.order.pop_front()
            && self.by_session.get(&session).is_some_and(|(_, current)| *current == expires)
        {
            self.by_session.remove(&session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_are_replaced_and_end_for_their_own_tenant_only() {
        let now = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut owners = Owners::default();
        owners.bind("a", "s1", now, ttl);
        owners.bind("b", "s2", now + Duration::from_secs(5), ttl);
        assert_eq!(owners.tenant("s1", now), Some("a"));
        owners.end("b", "s1", now);
        assert_eq!(owners.tenant("s1", now), Some("a"), "another tenant cannot end it");
        owners.bind("b", "s1", now + Duration::from_secs(1), ttl);
        assert_eq!(owners.tenant("s1", now), Some("b"), "the latest binding wins");
        owners.sweep(now + Duration::from_secs(10));
        assert_eq!(owners.tenant("s1", now + Duration::from_secs(10)), Some("b"), "the stale entry took nothing");
        assert_eq!(owners.tenant("s1", now + Duration::from_secs(11)), None, "expired");
        owners.end("b", "s2", now);
        assert_eq!(owners.tenant("s2", now), None);
    }

    #[test]
    fn past_the_cap_the_oldest_record_goes() {
        let now = Instant::now();
        let mut owners = Owners::default();
        for n in 0..=MAX_SESSIONS {
            owners.bind("a", &format!("s{n}"), now + Duration::from_nanos(n as u64), Duration::from_secs(60));
        }
        assert_eq!(owners.by_session.len(), MAX_SESSIONS);
        assert_eq!(owners.tenant("s0", now), None);
        assert_eq!(owners.tenant(&format!("s{MAX_SESSIONS}"), now), Some("a"));
    }
}
