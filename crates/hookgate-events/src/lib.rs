//! The WebSocket event service (docs/design/event-service.md).
//!
//! A front end connects to `/ws` on the events listener and sends
//! `{"auth": "<JWT>", "action": "attach" | "detach", "event": {"type": "<type>", "id": "<object id>"}}`;
//! every request gets `{"status", "message", "code"}`, and every attached event arrives as
//! `{"type", "id", "data"}` with the hook payload, secrets masked, in `data`.
//!
//! | code | status | message | when |
//! |---|---|---|---|
//! | 0 | 200 | `Ok` | attached / detached (detaching what was not attached is also `Ok`) |
//! | 1 | 400 | `Token not set` | `auth` missing, `null` or empty |
//! | 2 | 400 | `Invalid token` | bad signature, unknown algorithm (`none` included) or no key bound to it, a `kid` no key has, wrong `iss`, expired, not yet valid (`nbf`), an `aud` that is not the configured `audience` (or any `aud` when none is configured), no `data.id`/`sub`, or one that is not a string |
//! | 3 | 400 | `User not exists` | the token's user is not in the user directory |
//! | 4 | 400 | `Not access for dataset` | `event.appKey` (or, without it, every appKey) not the user's; an event type outside the user's `events`; a token of another user than the connection's |
//! | 5 | 400 | `Invalid request` | not JSON, not an object, `action` not attach/detach, `event.type` missing, `event.id` missing for a type other than `notification`, a field of the wrong type, a binary frame |
//! | 6 | 400 | `Too many connections: …` / `Too many subscriptions: …` | a limit, named with its value; the connection limits are checked at the connection's first successful request (a valid token of a known user) and also close the socket (1013 for the server's, 1008 for the user's) |
//! | 7 | 400 | `Too slow: …` | sent unasked when the connection's queue overflowed, then close 1008 `too slow` |
//! | 8 | 400 | `Token expired` | sent unasked when the newest token presented on the connection expires, then close 1008 `token expired` |
//! | 3 / 4 | 400 | as above | sent unasked when the user directory no longer has the user / allows a subscription (checked at every ping), then close 1008 `access revoked` |
//!
//! Codes 1–5 are the document's (its list spells 5 "Inavlid request", its example answer
//! "Invalid request"; the example is followed). 6–8 are hookgate's for what the document does
//! not cover.
//!
//! **Tenants.** The document's request has no appKey and stays valid as it is: it watches the
//! event in every appKey the user may see. An optional `event.appKey` narrows it to one.
//!
//! **Users and tokens.** A connection belongs to the user of its first request with a valid
//! token (`data.id`, else `sub`); a token of another user on it is refused (code 4). Any
//! request with a valid token also renews the connection: deliveries stop, with code 8 and a
//! close, when the newest token presented has expired. Renew by sending any request (e.g. the
//! same `attach` again) with a fresh token.
//!
//! **Connections and time limits.** A connection is *pending* until its first successful request:
//! it must complete the WebSocket handshake within `handshake_timeout_ms` (else it is closed), then
//! make that request within `request_timeout_ms` (else close 1008). Pending connections count
//! against `max_pending_connections` (past it: HTTP 503 and close); only an authenticated
//! connection takes one of the `max_connections` slots, so sockets that never authenticate cannot
//! lock out the users who do. The server pings every `ping_interval_ms`; a peer that
//! sent nothing between two pings is closed (1001 `no pong`). On shutdown every connection is
//! closed with 1001 `server shutting down`.
//!
//! **Several instances.** Behind a load balancer, a [`RedisBus`] on each instance's hub shares
//! the stream over one Redis pub/sub channel: every instance publishes there and delivers only
//! what comes back, so a connection on any instance gets each event of its tenants exactly
//! once, wherever the hook arrived. The hook path still never waits ([`bus`]).
//!
//! # Layout
//! - [`bus`]: [`RedisBus`], [`BusConfig`], [`BusStats`]: the event stream over Redis pub/sub,
//!   its publisher and subscriber tasks, reconnection, and the wire format (`bus::wire`).
//! - [`config`]: [`EventsConfig`], the `[webSocketEvents]` table.
//! - [`hooks`]: [`event_key`] (which hooks are events, by which id) and [`mask_secrets`].
//! - [`hub`]: [`EventHub`]: `publish` costs the caller O(1); a fan-out task serves the bounded
//!   per-connection queues (or, with a bus, the bus's queue to Redis).
//! - [`protocol`]: requests, answers and event messages on the wire.
//! - `auth`: JWT verification (one algorithm per key). `users`: the user directory.
//! - `server`: [`EventService`], the listener. `session`: one connection.

pub mod bus;
pub mod config;
pub mod errors;
pub mod hooks;
pub mod hub;
pub mod protocol;

mod auth;
mod fanout;
mod reload;
mod server;
mod session;
mod users;

pub use bus::{BusConfig, BusStats, DEFAULT_CHANNEL, RedisBus};
pub use config::{EventsConfig, EventsLimits, KeyAlgorithm, KeyConfig};
pub use errors::{BusError, EventsError};
pub use hooks::{MASK, MASKED_KEYS, NOTIFICATION, event_key, mask_secrets};
pub use hub::{EventHub, HubStats};
pub use server::{EventService, serve};
