//! One tenant's keys, by scope, with a time-ordered index of their expiries.
//!
//! Every key that can expire has one entry in `expiries`, so removing what has expired costs
//! O(expired · log n) and nothing scans the whole store. A sweep may stop early (to bound the
//! time a call holds the tenant's lock), so every read also checks expiry: an expired key that
//! is still stored is absent to every call. Each scope's keys are a `BTreeMap`, so a prefix
//! listing is a range scan that comes out sorted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use tokio::time::Instant;

use crate::Scope;

/// A stored value and when it expires (none: never).
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) value: String,
    pub(crate) expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// One tenant's keys.
#[derive(Debug, Default)]
pub(crate) struct Keyspace {
    scopes: HashMap<Scope, BTreeMap<String, Entry>>,
    /// (expiry, scope, key) of every key with an expiry.
    expiries: BTreeSet<(Instant, Scope, String)>,
    /// The number of stored keys across all scopes, expired ones not yet swept included.
    len: usize,
}

impl Keyspace {
    /// How many keys are stored, expired ones not yet swept included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Removes up to `budget` of the keys whose expiry is at or before `now`, earliest first.
    pub(crate) fn sweep(&mut self, now: Instant, budget: usize) {
        for _ in 0..budget {
            if self.expiries.first().is_none_or(|(at, _, _)| *at > now) {
                break;
            }
            let Some((at, scope, key)) = self.expiries.pop_first() else { break };
            if self.scopes.get(&scope).and_then(|keys| keys.get(&key)).is_some_and(|e| e.expires_at == Some(at)) {
                self.take(&scope, &key);
            }
        }
    }

    /// The entry of `key`, unless it has expired at `now`.
    pub(crate) fn get(&self, scope: &Scope, key: &str, now: Instant) -> Option<&Entry> {
        self.scopes.get(scope)?.get(key).filter(|entry| entry.live(now))
    }

    /// Sets `key`, replacing its value and expiry (and an expired entry, in place). The caller
    /// has checked the quota for a new key.
    pub(crate) fn put(&mut self, scope: &Scope, key: &str, value: String, expires_at: Option<Instant>) {
        let old_expiry = match self.scopes.get_mut(scope).and_then(|keys| keys.get_mut(key)) {
            Some(entry) => {
                entry.value = value;
                if entry.expires_at == expires_at {
                    return;
                }
                std::mem::replace(&mut entry.expires_at, expires_at)
            }
            None => {
                let keys = self.scopes.entry(scope.clone()).or_default();
                keys.insert(key.to_owned(), Entry { value, expires_at });
                self.len += 1;
                None
            }
        };
        if let Some(at) = old_expiry {
            self.expiries.remove(&(at, scope.clone(), key.to_owned()));
        }
        if let Some(at) = expires_at {
            self.expiries.insert((at, scope.clone(), key.to_owned()));
        }
    }

    /// Removes `key`; its entry if it was set and had not expired at `now`.
    pub(crate) fn remove(&mut self, scope: &Scope, key: &str, now: Instant) -> Option<Entry> {
        let entry = self.take(scope, key)?;
        if let Some(at) = entry.expires_at {
            self.expiries.remove(&(at, scope.clone(), key.to_owned()));
        }
        Some(entry).filter(|entry| entry.live(now))
    }

    /// The keys of `scope` that start with `prefix` and have not expired at `now`, sorted.
    pub(crate) fn keys(&self, scope: &Scope, prefix: &str, now: Instant) -> Vec<String> {
        let Some(keys) = self.scopes.get(scope) else { return Vec::new() };
        keys.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(_, entry)| entry.live(now))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Removes every key of `scope`; how many there were that had not expired at `now`.
    pub(crate) fn clear(&mut self, scope: &Scope, now: Instant) -> usize {
        let Some(keys) = self.scopes.remove(scope) else { return 0 };
        self.len -= keys.len();
        let mut live = 0;
        for (key, entry) in keys {
            live += usize::from(entry.live(now));
            if let Some(at) = entry.expires_at {
                self.expiries.remove(&(at, scope.clone(), key));
            }
        }
        live
    }

    /// Removes `key` from its scope map (dropping the map when it empties), not from the index.
    fn take(&mut self, scope: &Scope, key: &str) -> Option<Entry> {
        let keys = self.scopes.get_mut(scope)?;
        let entry = keys.remove(key)?;
        self.len -= 1;
        if keys.is_empty() {
            self.scopes.remove(scope);
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn keys_lists_a_prefix_sorted_per_scope() {
        let now = Instant::now();
        let mut space = Keyspace::default();
        let session = Scope::Session("s1".into());
        for key in ["b", "a/2", "a/1", "a", "ab", "a/10"] {
            space.put(&Scope::Tenant, key, "v".into(), None);
        }
        space.put(&session, "a/3", "v".into(), None);
        assert_eq!(space.keys(&Scope::Tenant, "a/", now), ["a/1", "a/10", "a/2"]);
        assert_eq!(space.keys(&Scope::Tenant, "", now), ["a", "a/1", "a/10", "a/2", "ab", "b"]);
        assert_eq!(space.keys(&session, "a", now), ["a/3"]);
        assert!(space.keys(&Scope::Session("other".into()), "", now).is_empty());
        assert_eq!(space.len(), 7);
    }

    #[test]
    fn sweep_removes_exactly_the_expired_keys_and_their_index_entries() {
        let now = Instant::now();
        let mut space = Keyspace::default();
        let session = Scope::Session("s1".into());
        space.put(&Scope::Tenant, "short", "1".into(), Some(now + SEC));
        space.put(&Scope::Tenant, "long", "2".into(), Some(now + 5 * SEC));
        space.put(&Scope::Tenant, "forever", "3".into(), None);
        space.put(&session, "s", "4".into(), Some(now + SEC));
        // Re-setting moves the key in the index instead of leaving a stale entry.
        space.put(&Scope::Tenant, "long", "2".into(), Some(now + 9 * SEC));
        assert_eq!(space.expiries.len(), 3);

        space.sweep(now + SEC, usize::MAX);
        assert_eq!(space.len(), 2);
        assert!(!space.scopes.contains_key(&session), "an emptied session's map is dropped");
        space.sweep(now + 8 * SEC, usize::MAX);
        assert_eq!(space.get(&Scope::Tenant, "long", now + 8 * SEC).map(|e| e.value.as_str()), Some("2"));
        space.sweep(now + 9 * SEC, usize::MAX);
        assert_eq!(space.len(), 1);
        assert!(space.expiries.is_empty());
    }

    #[test]
    fn a_bounded_sweep_leaves_expired_keys_invisible() {
        let now = Instant::now();
        let later = now + SEC;
        let mut space = Keyspace::default();
        for i in 0..10 {
            space.put(&Scope::Tenant, &format!("k{i}"), "v".into(), Some(now + SEC));
        }
        space.put(&Scope::Tenant, "kept", "v".into(), None);
        space.sweep(later, 4);
        assert_eq!(space.len(), 7, "4 of 10 expired keys swept");
        assert_eq!(space.keys(&Scope::Tenant, "k", later), ["kept"]);
        assert!(space.get(&Scope::Tenant, "k9", later).is_none());
        assert!(space.remove(&Scope::Tenant, "k9", later).is_none(), "an expired key did not exist");
        // Re-setting an expired key replaces it in place.
        space.put(&Scope::Tenant, "k8", "new".into(), None);
        assert_eq!(space.len(), 6);
        assert_eq!(space.get(&Scope::Tenant, "k8", later).map(|e| e.value.as_str()), Some("new"));
        space.sweep(later, usize::MAX);
        assert_eq!(space.keys(&Scope::Tenant, "", later), ["k8", "kept"]);
        assert_eq!(space.len(), 2);
        assert!(space.expiries.is_empty());
    }

    #[test]
    fn clear_and_remove_keep_the_count_and_index_exact() {
        let now = Instant::now();
        let mut space = Keyspace::default();
        let session = Scope::Session("s1".into());
        space.put(&session, "a", "1".into(), Some(now + SEC));
        space.put(&session, "b", "1".into(), None);
        space.put(&session, "expired", "1".into(), Some(now));
        space.put(&Scope::Tenant, "c", "1".into(), Some(now + SEC));
        assert_eq!(space.clear(&session, now), 2, "the expired key is removed but not counted");
        assert_eq!(space.clear(&session, now), 0);
        assert_eq!(space.remove(&Scope::Tenant, "c", now).map(|e| e.value), Some("1".into()));
        assert!(space.remove(&Scope::Tenant, "c", now).is_none());
        assert_eq!(space.len(), 0);
        assert!(space.expiries.is_empty() && space.scopes.is_empty());
    }
}
