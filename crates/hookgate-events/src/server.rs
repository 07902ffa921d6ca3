//! The listener: accepts connections, counts them, and stops them all on shutdown.
//!
//! A connection is *pending* from `accept` until its first successful request (WebSocket
//! handshake, then a valid token of a known user): pending connections count against
//! `max_pending_connections` only, and each is bounded in time (`handshake_timeout_ms`, then
//! `request_timeout_ms`). Only an authenticated connection takes one of the `max_connections`
//! (and `max_connections_per_user`) slots, so peers that connect and send nothing, or never
//! present a valid token, cannot lock out the users who do.

use crate::auth::Verifier;
use crate::config::{EventsConfig, EventsLimits};
use crate::errors::EventsError;
use crate::hub::{EventHub, Slot};
use crate::session;
use crate::users::UserDirectory;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The event service, configured and ready to serve: keys read, user directory loaded.
pub struct EventService {
    shared: Arc<Shared>,
}

/// What every session of one service shares.
pub(crate) struct Shared {
    pub(crate) hub: EventHub,
    pub(crate) verifier: Verifier,
    pub(crate) users: UserDirectory,
    pub(crate) limits: EventsLimits,
    pub(crate) leeway_seconds: u64,
    /// Open connections per bound user, for `max_connections_per_user`.
    user_connections: Mutex<HashMap<String, usize>>,
}

impl EventService {
    /// Checks the configuration and reads the key files and the user directory; the first
    /// problem is the error.
    pub fn new(config: &EventsConfig, hub: EventHub) -> Result<Self, EventsError> {
        if let Some(key) = config.limits.first_zero() {
            return Err(EventsError::Invalid { key, reason: "must be greater than 0".into() });
        }
        let shared = Shared {
            hub,
            verifier: Verifier::load(config)?,
            users: UserDirectory::load(&config.users)?,
            limits: config.limits.clone(),
            leeway_seconds: config.leeway_seconds,
            user_connections: Mutex::new(HashMap::new()),
        };
        Ok(EventService { shared: Arc::new(shared) })
    }

    /// Serves `/ws` on `listener` until `shutdown` completes; then stops accepting, closes
    /// every connection with code 1001 ("server shutting down") and returns once they are
    /// closed (each gets at most twice `close_grace_ms`).
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let mut sessions = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        // Answers and events are small: send each at once.
                        let _ = stream.set_nodelay(true);
                        let limit = self.shared.limits.max_pending_connections;
                        match self.shared.hub.open_pending(limit) {
                            Some(pending) => {
                                sessions.spawn(session::run(self.shared.clone(), stream, pending, stopped.clone()));
                            }
                            None => refuse_pending(stream, limit),
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "events listener: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
        drop(listener);
        let _ = stop.send(true);
        let grace = self.shared.limits.close_grace() * 2;
        if tokio::time::timeout(grace, async { while sessions.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!(
                left = sessions.len(),
                "events listener: connections still open after the grace period, dropped"
            );
            sessions.shutdown().await;
        }
    }
}

/// Past `max_pending_connections`: an HTTP 503 that names the limit, written without waiting
/// (a new socket's send buffer takes it whole), then the socket is closed. Nothing is spawned
/// and nothing waits, so a flood of connections costs the listener no more than accepting them.
fn refuse_pending(stream: TcpStream, limit: usize) {
    tracing::debug!(limit, "events: connection refused, too many connections not yet authenticated");
    // What the peer already sent is read first, so the close is a FIN, not a reset that could
    // discard the answer before the peer reads it.
    let _ = stream.try_read(&mut [0u8; 4096]);
    let body =
        format!("Too many connections waiting for their handshake or first request: the limit of {limit} is reached\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Why an authenticated connection could not be admitted.
pub(crate) enum Full {
    /// `max_connections` authenticated connections are open.
    Server,
    /// The user already has `max_connections_per_user`.
    User,
}

impl Shared {
    /// Counts an authenticated connection of `user_id` against `max_connections` and
    /// `max_connections_per_user`.
    pub(crate) fn admit(self: &Arc<Self>, user_id: &str) -> Result<UserSlot, Full> {
        let connection = self.hub.open_connection(self.limits.max_connections).ok_or(Full::Server)?;
        let mut open = self.user_connections.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user_id.to_owned()).or_default();
        if *count >= self.limits.max_connections_per_user {
            return Err(Full::User);
        }
        *count += 1;
        Ok(UserSlot { shared: self.clone(), user_id: user_id.to_owned(), _connection: connection })
    }
}

/// A connection bound to its user, counted (for the server and for its user) until dropped.
pub(crate) struct UserSlot {
    shared: Arc<Shared>,
    pub(crate) user_id: String,
    _connection: Slot,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut open = self.shared.user_connections.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

/// Loads `config` and serves `/ws` on `listener` until `shutdown` completes
/// ([`EventService::new`] then [`EventService::serve`]).
pub async fn serve(
    listener: TcpListener,
    config: &EventsConfig,
    hub: EventHub,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EventsError> {
    EventService::new(config, hub)?.serve(listener, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyAlgorithm, KeyConfig};

    #[tokio::test]
    async fn a_configuration_that_cannot_serve_is_refused_with_the_key_or_file_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("hs.key");
        std::fs::write(&key, [7u8; 32]).expect("write key");
        let users = dir.path().join("users.toml");
        let keys = vec![KeyConfig { algorithm: KeyAlgorithm::HS256, file: key, kid: None }];
        let config = EventsConfig::new("iss", keys, &users);

        let err = EventService::new(&config, EventHub::new()).err().expect("no user directory");
        assert_eq!(err.to_string(), format!("{}: cannot read", users.display()));

        std::fs::write(&users, "[users.u]\napp_keys = [\"a\"]\n").expect("write users");
        assert!(EventService::new(&config, EventHub::new()).is_ok());
        let mut zero = config.clone();
        zero.limits.queue_capacity = 0;
        let err = EventService::new(&zero, EventHub::new()).err().expect("zero limit");
        assert_eq!(err.to_string(), "webSocketEvents.queue_capacity: must be greater than 0");
    }
}
