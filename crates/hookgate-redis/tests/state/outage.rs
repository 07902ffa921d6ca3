use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate_redis::{RedisState, RedisStateConfig};
use hookgate_state::{BackendHealth, StateBackend, StateError};

use crate::common::{RedisServer, T, fresh, op};

/// A backend on `server` that gives up on a call after 500 ms.
fn backend(server: &RedisServer) -> Arc<RedisState> {
    RedisState::new(RedisStateConfig {
        call_timeout: Duration::from_millis(500),
        ..RedisStateConfig::new(server.url())
    })
    .expect("a well-formed URL")
}

/// The message of an `Unavailable` error; panics on anything else.
fn unavailable<T: std::fmt::Debug>(result: Result<T, StateError>) -> String {
    match result {
        Err(StateError::Unavailable(msg)) => msg,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn redis_down_at_start_then_up_recovers_without_a_new_backend() {
    let mut server = RedisServer::stopped();
    let state = backend(&server);
    let address = server.url().replace("redis://", "");

    let msg = unavailable(state.get("t", &T, "k").await);
    assert!(msg.starts_with(&format!("Redis at {address}/0 failed a get: ")), "{msg}");
    unavailable(state.incr("t", &T, "n", 1, None, fresh()).await);
    unavailable(state.keys("t", &T, "").await);
    let health = state.health().await;
    assert!(!health.up);
    assert_eq!(health.unavailable, 3);
    assert!(health.last_error.as_deref().is_some_and(|e| e.contains(&address)), "{health:?}");

    server.restart();
    assert_eq!(state.incr("t", &T, "n", 1, None, fresh()).await.unwrap(), 1);
    assert_eq!(state.get("t", &T, "n").await.unwrap().as_deref(), Some("1"));
    let health = state.health().await;
    assert!(health.up);
    assert_eq!(health.unavailable, 3, "failures stay counted");
}

#[tokio::test]
async fn redis_killed_and_restarted_recovers_by_itself() {
    let mut server = RedisServer::start();
    let state = backend(&server);
    state.set("t", &T, "k", "v", None, fresh()).await.unwrap();
    assert!(state.health().await.up);

    server.kill();
    unavailable(state.get("t", &T, "k").await);
    unavailable(state.set("t", &T, "k", "w", None, fresh()).await);
    assert!(!state.health().await.up);

    server.restart();
    // Without persistence the restarted server is empty; the backend works on it at once.
    assert_eq!(state.get("t", &T, "k").await.unwrap(), None);
    state.set("t", &T, "k", "w", None, fresh()).await.unwrap();
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["k"]);
    assert!(state.health().await.up);
}

#[tokio::test]
async fn a_redis_that_never_answers_fails_calls_after_the_call_timeout() {
    // A server that accepts connections and says nothing, as a hung Redis does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    let timeout = Duration::from_millis(300);
    let state = RedisState::new(RedisStateConfig { call_timeout: timeout, ..RedisStateConfig::new(&url) }).unwrap();
    for _ in 0..2 {
        let start = Instant::now();
        let msg = unavailable(state.incr("t", &T, "n", 1, None, fresh()).await);
        let took = start.elapsed();
        assert!(took >= timeout && took < timeout * 3, "took {took:?}: {msg}");
        assert_eq!(msg, format!("Redis at {}/0 did not answer an incr within 300 ms", &url["redis://".len()..]));
    }
    assert!(!state.health().await.up);
    silent.abort();
}

#[tokio::test]
async fn a_url_password_never_shows() {
    let server = RedisServer::stopped();
    let url = server.url().replace("redis://", "redis://:s3cret-pw@");
    let state = RedisState::new(RedisStateConfig::new(url)).unwrap();
    let msg = unavailable(state.get("t", &T, "k").await);
    assert!(!msg.contains("s3cret-pw"), "{msg}");
    let BackendHealth { last_error, .. } = state.health().await;
    assert!(last_error.is_some_and(|e| !e.contains("s3cret-pw")));
    assert!(!format!("{state:?}").contains("s3cret-pw"));
}

#[test]
fn only_a_malformed_url_fails_construction() {
    let Err(StateError::Invalid(msg)) = RedisState::new(RedisStateConfig::new("not a url")) else {
        panic!("a malformed URL must be refused");
    };
    assert!(msg.starts_with("cannot use the Redis URL: "), "{msg}");
    // No runtime, no server: constructing connects to nothing.
    assert!(RedisState::new(RedisStateConfig::new("redis://127.0.0.1:1/3")).is_ok());
}

#[tokio::test]
async fn a_password_fixed_on_the_server_is_picked_up() {
    let server = RedisServer::start();
    let url = server.url().replace("redis://", "redis://:s3cret-pw@");
    let state = RedisState::new(RedisStateConfig::new(url)).unwrap();
    // The server has no password: authenticating with one fails, and says so without it.
    for _ in 0..2 {
        let msg = unavailable(state.get("t", &T, "k").await);
        assert!(msg.contains("AuthenticationFailed") && !msg.contains("s3cret-pw"), "{msg}");
    }
    let mut admin = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("s3cret-pw").query::<()>(&mut admin).unwrap();
    assert_eq!(state.get("t", &T, "k").await, Ok(None));
    assert!(state.health().await.up);
}

#[tokio::test]
async fn tls_with_the_servers_ca_and_not_without_it() {
    let server = RedisServer::start_tls();
    assert!(server.url().starts_with("rediss://"));
    let config = |tls_ca| RedisStateConfig { tls_ca, ..RedisStateConfig::new(server.url()) };
    let trusted = RedisState::new(config(server.tls_cert())).unwrap();
    assert_eq!(trusted.set("t", &T, "k", "v", None, op(1, 0)).await, Ok(()));
    assert_eq!(trusted.get("t", &T, "k").await, Ok(Some("v".to_owned())));
    // The system's roots do not include the server's own certificate.
    let untrusted = RedisState::new(config(None)).unwrap();
    let msg = unavailable(untrusted.get("t", &T, "k").await);
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    // A CA for a server without TLS is a mistake in the configuration.
    let plain = RedisStateConfig { tls_ca: server.tls_cert(), ..RedisStateConfig::new("redis://127.0.0.1:1") };
    let Err(StateError::Invalid(msg)) = RedisState::new(plain) else {
        panic!("a CA without rediss:// must be refused")
    };
    assert!(msg.contains("rediss://"), "{msg}");
}
