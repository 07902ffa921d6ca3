//! The delivery side of the `send-data` capability.
//!
//! A policy calls `send-data.send(session-id, payload)` while a hook is evaluated; hookgate must
//! not call WCS back before WCS has its answer, and a slow or dead WCS node must never slow a hook.
//! So the engine hands each message to an [`Outbox`], whose [`Outbox::enqueue`] only puts it on a
//! bounded queue and returns at once. A sender task takes messages off the queue and POSTs each
//! one to `{base_url}/rest-api/data/send` of the WCS node that sent the hook, with the body WCS
//! documents (`{nodeId, sessionId, operationId, payload}`), a per-request timeout, bounded retries
//! with exponential backoff (connect errors, timeouts and 5xx only) and a bound on sends in flight.
//!
//! Every outcome is counted in [`OutboxStats`] for `/metrics`. Failures are logged with `tracing`
//! by session id, operation id, target URL and status or error, never with the payload or the
//! Basic password.
//!
//! # Layout
//! - [`config`]: [`OutboxConfig`], the `[send_data]` table of `hookgate.toml`, with safe defaults.
//! - [`message`]: [`Target`] (where) and [`DataMessage`] (what, serialised as WCS documents it).
//! - [`outbox`]: [`Outbox`]: the queue, the sender task and shutdown.
//! - `delivery`: one message's attempts, retries and outcome.
//! - [`stats`]: [`OutboxStats`], the counters.
//! - [`send_data`]: [`SendDataConfig`] (`[send_data]`: which node, which credentials) and
//!   [`DataSender`], what the `Effects` of a hook call.
//! - [`errors`]: [`Refused`] and [`StartError`].
//!
//! Only plain `http` targets are accepted: the WCS REST API is served on the LAN (port 8081), and
//! leaving TLS out keeps a C-compiled crypto backend out of the build. An `https` base URL is
//! refused at [`Outbox::enqueue`] with a message that says so.

pub mod config;
mod delivery;
pub mod errors;
pub mod message;
pub mod outbox;
pub mod send_data;
pub mod stats;

pub use config::OutboxConfig;
pub use errors::{Refused, StartError, TargetError};
pub use message::{DataMessage, Target};
pub use outbox::Outbox;
pub use send_data::{DataSender, SendDataConfig, SendDataError};
pub use stats::OutboxStats;
