//! Redis for a hookgate fleet: several hookgate processes behind one load balancer share their
//! `state` and their event stream through one Redis.
//!
//! # Layout
//!
//! - [`redis_client`] (`client`): how a fleet reaches its Redis (`redis://`, `rediss://` with
//!   an optional CA, `redis+unix://`). The state backend and the event bus
//!   (`hookgate-events`'s `RedisBus`, its pub/sub transport) both build their clients with it.
//! - [`RedisState`] (`state`): the `state` capability's backend in Redis, with its
//!   [`RedisStateConfig`]. It implements `hookgate-state`'s [`StateBackend`] with the semantics,
//!   limits and messages of the in-process [`MemoryState`]. Every update is one Lua script
//!   (`state.lua`) that looks up the idempotency journal, applies the update and records it
//!   atomically inside Redis; the module doc describes the key layout. Its connection and
//!   requests run on a thread of their own (`io`), not behind the evaluations on the workers.
//!
//! The integration tests (`tests/state`) run every test against both backends, the in-process
//! one and this one on a real `redis-server`, so that the two cannot drift apart.
//!
//! [`StateBackend`]: hookgate_state::StateBackend
//! [`MemoryState`]: hookgate_state::MemoryState

mod client;
mod io;
mod state;

pub use self::client::redis_client;
pub use self::state::{RedisState, RedisStateConfig};
