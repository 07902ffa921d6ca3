//! [`ServerError`]: why [`Server::from_config`](crate::Server::from_config) could not build a server.

use hookgate_config::ConfigError;
use hookgate_events::{BusError, EventsError};
use hookgate_outbox::SendDataError;
use hookgate_state::StateError;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The wasm engine did not start.
    #[error("cannot start the wasm engine: {0}")]
    Engine(String),
    /// A tenant's manifest is unusable: serving would route its appKey to `_default`.
    #[error("cannot serve {}: {message}", path.display())]
    PolicyTree {
        /// The policy tree.
        path: PathBuf,
        /// The first unusable manifest's problem.
        message: String,
    },
    /// The policy tree cannot be watched for changes.
    #[error("cannot watch {}: {message}", path.display())]
    Watch {
        /// The policy tree.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A secret file or an `[auth]` value cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A value of the configuration cannot be used.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key's path, e.g. `admin.token_file`.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Hooks would be served on a reachable address without authentication.
    #[error(
        "refusing to serve hooks on {listen} without authentication: anyone who can reach that address \
         could send forged hooks (connect, events, session ends). Set [auth] hmac_key_file (WCS's \
         rest_hook_secret_key) or basic_user + basic_password_file in hookgate.toml, or, if a network \
         boundary already authenticates WCS, set allow_unauthenticated_hooks = true in hookgate.toml"
    )]
    Unauthenticated {
        /// The hook listener's address.
        listen: String,
    },
    /// The admin listener would be reachable without a token.
    #[error(
        "the admin listener {address} is not on a loopback address and has no token: anyone who can \
         reach it could read /api/policies and force reloads; set [admin] token_file, or listen on \
         127.0.0.1 or [::1]"
    )]
    AdminExposed {
        /// Its address.
        address: SocketAddr,
    },
    /// An address cannot be resolved or bound.
    #[error("cannot listen on {address}")]
    Listen {
        /// `host:port`.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The decision log's file cannot be opened.
    #[error("cannot open the decision log")]
    DecisionLog(#[source] std::io::Error),
    /// The Redis state backend cannot be set up.
    #[error("cannot set up the Redis state backend")]
    RedisState(#[source] StateError),
    /// The Redis event bus cannot be set up.
    #[error("cannot set up the Redis event bus")]
    Bus(#[source] BusError),
    /// The WebSocket event service cannot start.
    #[error("cannot start the event service")]
    Events(#[source] EventsError),
    /// `send-data` delivery cannot start.
    #[error("cannot start send-data delivery")]
    SendData(#[source] SendDataError),
}
