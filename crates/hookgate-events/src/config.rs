//! [`EventsConfig`]: the `[webSocketEvents]` table of `hookgate.toml`.
//!
//! `address` and `port` are spelled as in WCS's `config.ini` section of the same name; the
//! rest is hookgate's: the keys that sign access tokens, the expected issuer, the user
//! directory and the limits. Unknown keys are refused so a typo is not silently ignored.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of the WebSocket event service.
///
/// ```toml
/// [webSocketEvents]
/// address = "0.0.0.0"
/// port = 8081
/// issuer = "dev.airlay.ru"
/// audience = "events.dev.airlay.ru"
/// users = "users.toml"
/// keys = [{ algorithm = "RS256", file = "jwt-rs256.pub.pem" }]
/// [webSocketEvents.limits]
/// max_connections = 10000
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Host or IP address to listen on (default `127.0.0.1`).
    #[serde(default = "default_address")]
    pub address: String,
    /// TCP port (default `8081`, as in the WCS document).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The `iss` every access token must carry.
    pub issuer: String,
    /// Keys that verify access tokens; each is bound to one algorithm. At least one.
    pub keys: Vec<KeyConfig>,
    /// The user directory (`.json` for JSON, anything else is TOML); see the `users` module.
    pub users: PathBuf,
    /// The `aud` every access token must carry (as a string, or in its array), when set. When
    /// unset (the default), a token that names any audience is refused: it was issued for
    /// another service (RFC 7519 §4.1.3), and only a token without `aud` is accepted.
    #[serde(default)]
    pub audience: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf` (default 0: a token is valid exactly
    /// from `nbf` to `exp`).
    #[serde(default)]
    pub leeway_seconds: u64,
    /// Connection, subscription, queue and time limits.
    #[serde(default)]
    pub limits: EventsLimits,
}

/// One token verification key, bound to exactly one algorithm: a token is only checked
/// against keys of the algorithm its header names, which is what refuses algorithm confusion
/// (an `HS256` token "signed" with an RSA public key never meets that key).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The one algorithm this key verifies.
    pub algorithm: KeyAlgorithm,
    /// `RS256`/`ES256`: a PEM public key (SPKI, or PKCS#1 for RSA). `HS256`: the raw secret
    /// bytes, used exactly as stored (a trailing newline is part of the secret).
    pub file: PathBuf,
    /// Optional key id: a token whose header has a `kid` is only checked against the keys with
    /// that id, and refused when no key has it (a key without a `kid` never verifies a token
    /// that names one).
    #[serde(default)]
    pub kid: Option<String>,
}

/// The signature algorithms accepted for access tokens.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// HMAC with SHA-256 (a shared secret of at least 32 bytes).
    HS256,
}

/// Limits of the event service. Every refusal they cause is a precise answer (see the crate
/// doc's table of codes).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsLimits {
    /// Authenticated WebSocket connections open at once, all users together. A connection
    /// counts from its first successful request (WebSocket handshake and token done), so
    /// connections that never authenticate cannot use up the room of those that do.
    pub max_connections: usize,
    /// Connections one user may hold at once (counted from the user's first request).
    pub max_connections_per_user: usize,
    /// Connections accepted but not yet authenticated (in their WebSocket handshake, or
    /// waiting for their first successful request), all peers together. Past it a new
    /// connection is answered HTTP 503 and closed at once. Default 10,000, as
    /// `max_connections`; each such connection lasts at most `handshake_timeout_ms` +
    /// `request_timeout_ms`.
    pub max_pending_connections: usize,
    /// Subscriptions (`attach`ed type/id pairs, counted per appKey) on one connection.
    pub max_subscriptions_per_connection: usize,
    /// Events waiting to be written to one connection; when full, the subscriber is told it
    /// is too slow and disconnected.
    pub queue_capacity: usize,
    /// The server pings every this many milliseconds; a peer that sent nothing (not even a
    /// pong) between two pings is dropped.
    pub ping_interval_ms: u64,
    /// Time a new TCP connection gets to complete the WebSocket handshake (default 10 s);
    /// then it is closed without an answer.
    pub handshake_timeout_ms: u64,
    /// Time a connection gets, once its WebSocket handshake is done, to make its first
    /// successful request (default 10 s); then it is closed (1008).
    pub request_timeout_ms: u64,
    /// Time a client that is being disconnected gets to receive the last notice and the close
    /// frame.
    pub close_grace_ms: u64,
    /// Largest request message accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for EventsLimits {
    fn default() -> Self {
        EventsLimits {
            max_connections: 10_000,
            max_connections_per_user: 32,
            max_pending_connections: 10_000,
            max_subscriptions_per_connection: 256,
            queue_capacity: 256,
            ping_interval_ms: 20_000,
            handshake_timeout_ms: 10_000,
            request_timeout_ms: 10_000,
            close_grace_ms: 5_000,
            max_message_bytes: 64 * 1024,
        }
    }
}

impl EventsLimits {
    /// [`Self::ping_interval_ms`] as a duration.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    /// [`Self::handshake_timeout_ms`] as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// [`Self::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// [`Self::close_grace_ms`] as a duration.
    pub fn close_grace(&self) -> Duration {
        Duration::from_millis(self.close_grace_ms)
    }

    /// The first limit that is zero (and so would refuse everything), by name.
    pub(crate) fn first_zero(&self) -> Option<&'static str> {
        [
            ("max_connections", self.max_connections as u64),
            ("max_connections_per_user", self.max_connections_per_user as u64),
            ("max_pending_connections", self.max_pending_connections as u64),
            ("max_subscriptions_per_connection", self.max_subscriptions_per_connection as u64),
            ("queue_capacity", self.queue_capacity as u64),
            ("ping_interval_ms", self.ping_interval_ms),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("close_grace_ms", self.close_grace_ms),
            ("max_message_bytes", self.max_message_bytes as u64),
        ]
        .into_iter()
        .find(|(_, value)| *value == 0)
        .map(|(name, _)| name)
    }
}

impl EventsConfig {
    /// A configuration with the given issuer, keys and user directory, and defaults elsewhere.
    pub fn new(issuer: impl Into<String>, keys: Vec<KeyConfig>, users: impl Into<PathBuf>) -> Self {
        EventsConfig {
            address: default_address(),
            port: default_port(),
            issuer: issuer.into(),
            keys,
            users: users.into(),
            audience: None,
            leeway_seconds: 0,
            limits: EventsLimits::default(),
        }
    }

    /// `address:port`, for binding the listener.
    pub fn socket_address(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }

    /// Makes relative key and user-directory paths relative to `dir` (the folder of the
    /// configuration file), as the rest of `hookgate.toml` does.
    pub fn resolve_relative_to(&mut self, dir: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        };
        resolve(&mut self.users);
        for key in &mut self.keys {
            resolve(&mut key.file);
        }
    }
}

fn default_address() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    8081
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_with_defaults_and_refuses_unknown_keys() {
        let text = r#"
            address = "0.0.0.0"
            port = 9000
            issuer = "dev.airlay.ru"
            audience = "events"
            users = "users.toml"
            keys = [{ algorithm = "RS256", file = "k.pem" }, { algorithm = "HS256", file = "h.key", kid = "h1" }]
            [limits]
            max_connections = 5
        "#;
        let mut config: EventsConfig = toml::from_str(text).expect("valid table");
        assert_eq!(config.socket_address(), "0.0.0.0:9000");
        assert_eq!(config.keys[1].algorithm, KeyAlgorithm::HS256);
        assert_eq!(config.limits.max_connections, 5);
        assert_eq!(config.audience.as_deref(), Some("events"));
        assert_eq!(config.limits.max_pending_connections, 10_000);
        assert_eq!(config.limits.queue_capacity, EventsLimits::default().queue_capacity);
        config.resolve_relative_to(Path::new("/etc/hookgate"));
        assert_eq!(config.users, Path::new("/etc/hookgate/users.toml"));
        assert_eq!(config.keys[0].file, Path::new("/etc/hookgate/k.pem"));

        let typo = text.replace("issuer", "isuer");
        let err = toml::from_str::<EventsConfig>(&typo).expect_err("unknown key");
        assert!(err.to_string().contains("isuer"), "{err}");
        let none = text.replace("RS256", "none");
        assert!(toml::from_str::<EventsConfig>(&none).is_err());
    }
}
