//! The event service end to end: a real listener on 127.0.0.1:0, real WebSocket clients
//! (tokio-tungstenite), real keys generated per run, a real user directory file.

mod common;

/// Two instances sharing events over a real Redis: exactly once, tenants, Redis down and back.
mod bus;
/// Answers and their codes 1–5 (and 0), each produced by its cause; token algorithms.
mod codes;
/// Attach, publish, detach, tenants, masking, expiry.
mod delivery;
/// Connection and subscription limits, slow subscribers, pings, shutdown, paths.
mod limits;
/// Token claims (`nbf`, audience, `kid`, the user claim's type) and key files replaced on disk.
mod tokens;
