//! The outbox against a real HTTP server standing in for WCS (axum on 127.0.0.1:0).

/// The fake WCS node, test configs and waiting helpers.
mod common;
/// The documented body, the Basic header, connection reuse.
mod delivery;
/// What is logged: ids, target and cause; never the payload or the password.
mod logging;
/// A full queue, an invalid target, and `enqueue` staying non-blocking.
mod queue;
/// What is retried (5xx, connection refused, timeouts) and what is not (4xx).
mod retries;
/// Shutdown drains within the grace, abandons (and counts) what is left after it.
mod shutdown;
