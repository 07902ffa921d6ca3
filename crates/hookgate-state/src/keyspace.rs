//! One tenant's keys, by scope, with a time-ordered index of their expiries.
//!
//! Every key that can expire has one entry in `expiries`, so removing what has expired costs
//! O(expired · log n) and nothing scans the whole store. Each scope's keys are a `BTreeMap`, so
//! a prefix listing is a range scan that comes out sorted.

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

/// One tenant's keys.
#[derive(Debug, Default)]
pub(crate) struct Keyspace {
    scopes: HashMap<Scope, BTreeMap<String, Entry>>,
    /// (expiry, scope, key) of every key with an expiry.
    expiries: BTreeSet<(Instant, Scope, String)>,
    /// The number of keys across all scopes (the quota counts them all).
    len: usize,
}

impl Keyspace {
    /// How many keys the tenant holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Removes the keys whose expiry is at or before `now`.
    pub(crate) fn sweep(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.expiries.first() {
            if *at > now {
                break;
            }
            let Some((at, scope, key)) = self.expiries.pop_first() else { break };
            if self.get(&scope, &key).is_some_and(|entry| entry.expires_at == Some(at)) {
                self.take(&scope, &key);
            }
        }
    }

    /// The entry of `key` (the caller has swept, so it has not expired).
    pub(crate) fn get(&self, scope: &Scope, key: &str) -> Option<&Entry> {
        self.scopes.get(scope)?.get(key)
    }

    /// Sets `key`, replacing its value and expiry. The caller has checked the quota for a new key.
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

    /// Removes `key`; its entry if it was set.
    pub(crate) fn remove(&mut self, scope: &Scope, key: &str) -> Option<Entry> {
        let entry = self.take(scope, key)?;
        if let Some(at) = entry.expires_at {
            self.expiries.remove(&(at, scope.clone(), key.to_owned()));
        }
        Some(entry)
    }

    /// The keys of `scope` that start with `prefix`, sorted.
    pub(crate) fn keys(&self, scope: &Scope, prefix: &str) -> Vec<String> {
        let Some(keys) = self.scopes.get(scope) else { return Vec::new() };
        keys.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Removes every key of `scope`; how many there were.
    pub(crate) fn clear(&mut self, scope: &Scope) -> usize {
        let Some(keys) = self.scopes.remove(scope) else { return 0 };
        self.len -= keys.len();
        let count = keys.len();
        for (key, entry) in keys {
            if let Some(at) = entry.expires_at {
                self.expiries.remove(&(at, scope.clone(), key));
            }
        }
        count
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

    #[test]
    fn keys_lists_a_prefix_sorted_per_scope() {
        let mut space = Keyspace::default();
        let session = Scope::Session("s1".into());
        for key in ["b", "a/2", "a/1", "a", "ab", "a/10"] {
            space.put(&Scope::Tenant, key, "v".into(), None);
        }
        space.put(&session, "a/3", "v".into(), None);
        assert_eq!(space.keys(&Scope::Tenant, "a/"), ["a/1", "a/10", "a/2"]);
        assert_eq!(space.keys(&Scope::Tenant, ""), ["a", "a/1", "a/10", "a/2", "ab", "b"]);
        assert_eq!(space.keys(&session, "a"), ["a/3"]);
        assert!(space.keys(&Scope::Session("other".into()), "").is_empty());
        assert_eq!(space.len(), 7);
    }

    #[test]
    fn sweep_removes_exactly_the_expired_keys_and_their_index_entries() {
        let now = Instant::now();
        let mut space = Keyspace::default();
        let session = Scope::Session("s1".into());
        space.put(&Scope::Tenant, "short", "1".into(), Some(now + Duration::from_secs(1)));
        space.put(&Scope::Tenant, "long", "2".into(), Some(now + Duration::from_secs(5)));
        space.put(&Scope::Tenant, "forever", "3".into(), None);
        space.put(&session, "s", "4".into(), Some(now + Duration::from_secs(1)));
        // Re-setting moves the key in the index instead of leaving a stale entry.
        space.put(&Scope::Tenant, "long", "2".into(), Some(now + Duration::from_secs(9)));
        assert_eq!(space.expiries.len(), 3);

        space.sweep(now + Duration::from_secs(1));
        assert_eq!(space.len(), 2);
        assert!(space.get(&Scope::Tenant, "short").is_none());
        assert!(!space.scopes.contains_key(&session), "an emptied session's map is dropped");
        space.sweep(now + Duration::from_secs(8));
        assert_eq!(space.get(&Scope::Tenant, "long").map(|e| e.value.as_str()), Some("2"));
        space.sweep(now + Duration::from_secs(9));
        assert_eq!(space.len(), 1);
        assert!(space.expiries.is_empty());
    }

    #[test]
    fn clear_and_remove_keep_the_count_and_index_exact() {
        let now = Instant::now();
        let mut space = Keyspace::default();
        let session = Scope::Session("s1".into());
        space.put(&session, "a", "1".into(), Some(now + Duration::from_secs(1)));
        space.put(&session, "b", "1".into(), None);
        space.put(&Scope::Tenant, "c", "1".into(), Some(now + Duration::from_secs(1)));
        assert_eq!(space.clear(&session), 2);
        assert_eq!(space.clear(&session), 0);
        assert_eq!(space.remove(&Scope::Tenant, "c").map(|e| e.value), Some("1".into()));
        assert!(space.remove(&Scope::Tenant, "c").is_none());
        assert_eq!(space.len(), 0);
        assert!(space.expiries.is_empty() && space.scopes.is_empty());
    }
}
