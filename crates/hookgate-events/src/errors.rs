//! Why the event service cannot start. Problems of one client are never errors here: they are
//! answers on that client's socket ([`crate::protocol`]).

use std::path::PathBuf;

/// A configuration that cannot be served, with the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// A key file or the user directory could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key file does not hold a key usable with its configured algorithm.
    #[error("{}: not a usable {algorithm} key", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// The configured algorithm.
        algorithm: &'static str,
        /// Why the key was refused.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// An HS256 secret shorter than the hash it keys.
    #[error("{}: an HS256 secret must be at least 32 bytes, this one has {len}", path.display())]
    ShortSecret {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// The user directory is malformed.
    #[error("{}: {message}", path.display())]
    Directory {
        /// The directory file.
        path: PathBuf,
        /// The parser's message, with the position or key.
        message: String,
    },
    /// A setting that parses but cannot be used.
    #[error("webSocketEvents.{key}: {reason}")]
    Invalid {
        /// The key under `[webSocketEvents]`.
        key: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// Why a [`crate::RedisBus`] cannot start. Redis being unreachable is not one: the bus
/// connects in the background.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL is not one the Redis client accepts.
    #[error("event bus: Redis URL {url} is malformed")]
    Url {
        /// The URL, its password masked (see [`hookgate_config::redact_url`]).
        url: String,
        /// The client's reason.
        #[source]
        source: redis::RedisError,
    },
    /// A setting that cannot be used.
    #[error("event bus: {field} {reason}")]
    Invalid {
        /// The [`crate::BusConfig`] field.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// [`crate::RedisBus::start`] was called twice for one hub.
    #[error("event bus: this event hub already has a bus")]
    AlreadyAttached,
}
