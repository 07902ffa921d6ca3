//! Integration tests of the backends, through the `StateBackend` trait only. Most tests run
//! against each backend (`<module>::memory::<test>` and `<module>::redis::<test>`); the Redis
//! variants start a `redis-server` of their own (or use `HOOKGATE_TEST_REDIS_URL`).

/// Backends under test, a `redis-server` per test, `OpId` helpers.
#[macro_use]
mod common;
/// `claim` and `release`: the cap, orphaned claims, retries, the key quota, concurrent claims.
mod claims;
/// Atomicity under concurrency: `incr` totals, `compare_and_set` winners.
mod concurrency;
/// Several hookgate processes on one Redis: retries apply once, sessions end fleet-wide.
mod fleet;
/// Replayed `OpId`s: first result returned, update not applied twice; the journal window.
mod idempotency;
/// Key, value, session-id and per-tenant quota limits.
mod limits;
/// Redis down at start, killed and restarted, or hung: calls fail as unavailable within the
/// call timeout, then recover by themselves; no password in any message.
mod outage;
/// The exact semantics of each call (`incr`, `compare_and_set`, `keys`, …).
mod semantics;
/// Session-scoped keys: `end_session` and the session TTL.
mod sessions;
/// Tenants never see each other's keys, whatever their names hold.
mod tenants;
/// TTL expiry: exact on tokio's paused clock, in real time in Redis.
mod ttl;
