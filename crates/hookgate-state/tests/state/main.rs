//! Integration tests of the in-process backend, through the `StateBackend` trait only.

/// Store and `OpId` helpers.
mod common;
/// Atomicity under concurrency: `incr` totals, `compare_and_set` winners.
mod concurrency;
/// Replayed `OpId`s: first result returned, update not applied twice; the journal window.
mod idempotency;
/// Key, value, session-id and per-tenant quota limits.
mod limits;
/// The exact semantics of each call (`incr`, `compare_and_set`, `keys`, …).
mod semantics;
/// Session-scoped keys: `end_session` and the session TTL.
mod sessions;
/// Tenants never see each other's keys.
mod tenants;
/// TTL expiry on paused tokio time.
mod ttl;
