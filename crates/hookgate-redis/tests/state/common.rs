use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use hookgate_testkit::RedisServer;

use hookgate_redis::{RedisState, RedisStateConfig};
use hookgate_state::{MemoryState, OpId, Scope, StateBackend, StateLimits};

/// The tenant's own scope.
pub(crate) const T: Scope = Scope::Tenant;

/// Set to `redis://host:port` to run the Redis variants against that server instead of one
/// started per test. Each test then takes a database of its own (1, 2, …) and flushes it first,
/// so the server needs `databases` above the number of Redis tests (e.g. `--databases 128`).
const REDIS_URL_VAR: &str = "HOOKGATE_TEST_REDIS_URL";

/// Defines, for every `async fn name(backend: Backend)` listed, the tests `memory::name` and
/// `redis::name`, each with its own test attribute.
macro_rules! on_each_backend {
    (memory: #[$memory:meta], redis: #[$redis:meta], tests: [$($name:ident),+ $(,)?]) => {
        mod memory {
            $(#[$memory] async fn $name() { super::$name(crate::common::Backend::Memory).await })+
        }
        mod redis {
            $(#[$redis] async fn $name() { super::$name(crate::common::Backend::Redis).await })+
        }
    };
}

/// A backend the shared tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// [`MemoryState`], on tokio's paused clock (except under the multi-thread runtime).
    Memory,
    /// [`RedisState`] on a `redis-server` of the test's own, in real time.
    Redis,
}

impl Backend {
    /// The unit TTL tests count in: a second of paused time, or 200 ms of real time in Redis.
    pub(crate) fn unit(self) -> Duration {
        match self {
            Backend::Memory => Duration::from_secs(1),
            Backend::Redis => Duration::from_millis(200),
        }
    }

    /// How long before an expiry a test still expects the key: 1 ms on the paused clock (so
    /// the boundary is exact), and in real time enough for the calls made in between.
    pub(crate) fn slack(self) -> Duration {
        match self {
            Backend::Memory => Duration::from_millis(1),
            Backend::Redis => Duration::from_millis(100),
        }
    }

    /// A store with the default limits.
    pub(crate) async fn store(self) -> Store {
        self.store_with(StateLimits::default()).await
    }

    /// A store with `limits`.
    pub(crate) async fn store_with(self, limits: StateLimits) -> Store {
        match self {
            Backend::Memory => Store { state: MemoryState::new(limits), backend: self, _server: None },
            Backend::Redis => {
                let (url, server) = match std::env::var(REDIS_URL_VAR) {
                    Ok(url) => (external_database(&url), None),
                    Err(_) => {
                        let server = RedisServer::start();
                        (server.url(), Some(server))
                    }
                };
                Store { state: redis_state(&url, limits), backend: self, _server: server }
            }
        }
    }
}

/// A [`RedisState`] on `url` with `limits`, and a call timeout generous enough for a busy
/// test machine.
pub(crate) fn redis_state(url: &str, limits: StateLimits) -> Arc<RedisState> {
    let config = RedisStateConfig { limits, call_timeout: Duration::from_secs(5), ..RedisStateConfig::new(url) };
    RedisState::new(config).expect("a well-formed URL")
}

/// A database of its own on the external server at `url`, flushed.
fn external_database(url: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let url = format!("{}/{}", url.trim_end_matches('/'), NEXT.fetch_add(1, Ordering::Relaxed));
    let flushed = redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection())
        .and_then(|mut connection| redis::cmd("FLUSHDB").query::<()>(&mut connection));
    if let Err(e) = flushed {
        panic!("{REDIS_URL_VAR}: cannot flush {url}: {e}");
    }
    url
}

/// A backend under test, and the server it runs on if any.
pub(crate) struct Store {
    state: Arc<dyn StateBackend>,
    backend: Backend,
    /// Stopped when the test ends.
    _server: Option<RedisServer>,
}

impl Store {
    /// Lets `time` pass for the backend: on tokio's paused clock, or for real (and 2 ms more,
    /// so that Redis's millisecond clock has passed an expiry too).
    pub(crate) async fn pass(&self, time: Duration) {
        match self.backend {
            Backend::Memory => tokio::time::advance(time).await,
            Backend::Redis => tokio::time::sleep(time + Duration::from_millis(2)).await,
        }
    }
}

impl Deref for Store {
    type Target = Arc<dyn StateBackend>;

    fn deref(&self) -> &Self::Target {
        &self.state
    }
}

/// The `OpId` of update `seq` of hook delivery `hook`.
pub(crate) fn op(hook: u64, seq: u32) -> OpId {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&hook.to_le_bytes());
    OpId { hook: digest, seq }
}

/// An `OpId` no other call has used: a fresh hook delivery.
pub(crate) fn fresh() -> OpId {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
    op(NEXT.fetch_add(1, Ordering::Relaxed), 0)
}

/// A session scope.
pub(crate) fn session(id: &str) -> Scope {
    Scope::Session(id.to_owned())
}
