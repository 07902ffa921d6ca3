//! [`RedisState`]: the backend several hookgate processes share through one Redis (7.0 or later).
//!
//! Every call but `get` runs one Lua script, `state.lua` (by `EVALSHA`, loaded again by
//! itself after a Redis restart): Redis runs a script alone, so the journal lookup, the update
//! and the journal record are one atomic step, and two processes that get deliveries of the
//! same hook apply its updates once. Nothing reads, computes and writes back from the host. The
//! clock is Redis's (`TIME`), so processes agree on expiries whatever their own clocks say.
//! `claim` and `release` are that script too: a claim looks up, counts and writes the claims
//! and notes of its pool in one step, so a decision is one round trip (and one script).
//!
//! # Key layout
//!
//! Every key of tenant `t` starts with `hg:{t}:`. The braces are a Redis Cluster hash tag: all
//! of a tenant's keys hash to one slot, so one script can update all of them. Names are escaped
//! so that no tenant, session or key reaches another's data: in the tenant name and the session
//! id, `%`, `{`, `}` and `:` are written `%25`, `%7B`, `%7D` and `%3A` (and the empty tenant
//! name as `%`, which no escaped name is, since a Redis Cluster hash tag must not be empty). A
//! tenant name then holds no brace and ends its hash tag, and a scope holds no `:` and ends at
//! the first one; the key comes last and is stored as it is.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `hg:{t}:v:<scope>:<key>` | string | a value, with Redis's own expiry (`PXAT`) |
//! | `hg:{t}:k:<scope>` | zset | the scope's keys, all scored 0: `keys(prefix)` is a `ZRANGEBYLEX` |
//! | `hg:{t}:x` | zset | `<scope>:<key>` of every key with an expiry, scored by it (ms) |
//! | `hg:{t}:n` | string | how many keys the tenant stores, for its quota |
//! | `hg:{t}:j:<hook>` | hash | the journal of one hook delivery (`hook` in hex): seq → call and result; `PEXPIRE` journal TTL |
//! | `hg:{%o<session>}` | string | the tenant the session connected under (`bind_session`), with the session TTL |
//!
//! `<scope>` is `t` for the tenant's own keys and `s<session id>` for a session's. Redis drops
//! an expired value by itself; each script then removes up to 64 expired keys of the tenant from
//! the indexes and the count, earliest first, as [`MemoryState`] sweeps, and
//! `keys` leaves out listed keys whose value has expired. `end_session` deletes what its scope's
//! index lists, so any process ending a session deletes the keys every process set in it.
//!
//! # Availability
//!
//! [`RedisState::new`] connects to nothing: the connection is made on the first call and remade
//! by itself after a failure, so hookgate starts and answers hooks while Redis is down. Every
//! call is bounded by [`RedisStateConfig::call_timeout`]; a failure to reach Redis in time is
//! [`StateError::Unavailable`], and [`RedisState::health`] probes Redis and counts failures.
//! A call that timed out may still have been applied; its hook's retry then replays it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, FromRedisValue, RedisResult, Script, ScriptInvocation};

use crate::io::IoThread;
#[cfg(doc)]
use hookgate_state::MemoryState;
use hookgate_state::{
    BackendHealth, ClaimOutcome, ClaimPool, OpId, Scope, StateBackend, StateError, StateLimits, UpdateKind,
};

/// The script of every call but `get`.
static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("state.lua")));

/// Deletes a session's owner record (`KEYS[1]`) if it names the tenant `ARGV[1]`.
static END_OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
});

/// `hg:{%o<session>}`: the tenant a session connected under, with the session TTL. `%o` is no
/// escaped tenant name (those hold `%` only in `%25`, `%7B`, `%7D`, `%3A`, or alone), so no
/// tenant's keys share it; each session has a hash tag of its own.
fn owner_key(session: &str) -> String {
    let mut key = String::from("hg:{%o");
    escape(session, &mut key);
    key.push('}');
    key
}

/// Lifetimes beyond this many ms (about 1,000 years) count as none: Redis refuses expiries
/// that overflow its clock, and the script's numbers are exact only below 2^53.
const MAX_LIFETIME_MS: u128 = 1000 * 365 * 24 * 3600 * 1000;

/// Where a [`RedisState`] connects, and what it holds tenants to. Its `Debug` hides the URL's
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisStateConfig {
    /// `redis://[[user]:password@]host[:port][/db]` (or `redis+unix:///path`). It may hold a
    /// password: messages name the server by address and database only.
    pub url: String,
    /// The limits and lifetimes, as for the in-process backend.
    pub limits: StateLimits,
    /// The longest one call may take, connecting included, before it fails as
    /// [`StateError::Unavailable`]: a hook waits at most this long for a Redis that is down.
    pub call_timeout: Duration,
    /// For `rediss://`: the PEM of the CA that signed the server's certificate, if not one of
    /// the system's roots.
    pub tls_ca: Option<Vec<u8>>,
}

impl RedisStateConfig {
    /// The config for `url` with the default limits and a 250 ms call timeout.
    pub fn new(url: impl Into<String>) -> Self {
        RedisStateConfig {
            url: url.into(),
            limits: StateLimits::default(),
            call_timeout: Duration::from_millis(250),
            tls_ca: None,
        }
    }
}

impl fmt::Debug for RedisStateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStateConfig")
            .field("url", &hookgate_config::redact_url(&self.url))
            .field("limits", &self.limits)
            .field("call_timeout", &self.call_timeout)
            .field("tls_ca", &self.tls_ca.is_some())
            .finish()
    }
}

/// The [`StateBackend`] in Redis, shared by every hookgate process that uses the same server.
///
/// Semantics, limits and messages are those of [`MemoryState`] (expiry
/// rules, `incr`, `compare_and_set`, quotas, the journal), with Redis's clock at millisecond
/// precision: a key is visible through the millisecond its TTL ends (Redis expires it after).
/// Calls must run within a Tokio runtime with time and I/O enabled.
pub struct RedisState {
    limits: StateLimits,
    call_timeout: Duration,
    client: Client,
    /// Where the connection's tasks and the calls' requests run.
    io: IoThread,
    /// Made by the first call (it needs a runtime, `new` does not), then shared: one
    /// multiplexed connection that reconnects by itself after I/O failures. Dropped after an
    /// authentication failure, which it would repeat forever, so that the next call starts
    /// afresh.
    connection: Mutex<Option<ConnectionManager>>,
    /// `host:port/db`, to name the server in messages without the password.
    server: String,
    /// The password, if any, to scrub from messages that would repeat it.
    password: Option<String>,
    /// How many calls failed as unavailable.
    unavailable: AtomicU64,
    /// The latest reason Redis could not be reached.
    last_error: Mutex<Option<String>>,
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState")
            .field("server", &self.server)
            .field("limits", &self.limits)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisState {
    /// A backend for the Redis at `config.url`, with its I/O thread. Fails only if the URL is
    /// malformed (or the thread cannot start): it does not connect (the first call does), so it
    /// succeeds while Redis is down.
    pub fn new(config: RedisStateConfig) -> Result<Arc<Self>, StateError> {
        let client = crate::redis_client(&config.url, config.tls_ca.as_deref())
            .map_err(|e| StateError::Invalid(format!("cannot use the Redis URL: {e}")))?;
        let info = client.get_connection_info();
        let server = format!("{}/{}", info.addr(), info.redis_settings().db());
        let password = info.redis_settings().password().filter(|p| !p.is_empty()).map(str::to_owned);
        let io = IoThread::start("hookgate-redis")
            .map_err(|e| StateError::Unavailable(format!("cannot start the Redis I/O thread: {e}")))?;
        Ok(Arc::new(RedisState {
            limits: config.limits,
            call_timeout: config.call_timeout,
            client,
            io,
            connection: Mutex::new(None),
            server,
            password,
            unavailable: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }))
    }

    /// The shared connection, made on first use.
    fn connection(&self) -> RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        // One attempt per call (no retry loop inside a call): a call while Redis is down fails
        // at once, and the failure starts the next attempt in the background.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.call_timeout))
            .set_response_timeout(Some(self.call_timeout));
        // Its tasks live on the I/O thread (see `io`).
        let _io = self.io.enter();
        let connection = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Runs the script as `invocation`; `what`: the call, for messages ("a get").
    async fn run<T: FromRedisValue + Send + 'static>(
        &self,
        what: &str,
        invocation: ScriptInvocation<'static>,
    ) -> Result<T, StateError> {
        let invocation = Arc::new(invocation);
        self.call(what, move |mut connection| {
            let invocation = Arc::clone(&invocation);
            async move { invocation.invoke_async(&mut connection).await }
        })
        .await
    }

    /// Sends `command`; `what`: the call, for messages.
    async fn query<T: FromRedisValue + Send + 'static>(
        &self,
        what: &str,
        command: redis::Cmd,
    ) -> Result<T, StateError> {
        let command = Arc::new(command);
        self.call(what, move |mut connection| {
            let command = Arc::clone(&command);
            async move { command.query_async(&mut connection).await }
        })
        .await
    }

    /// Makes one `attempt` on the connection, and one more if the first failed to reach Redis
    /// (the failure has started a reconnection, which the second attempt waits for), all within
    /// the call timeout; counts a failure. A second attempt of an update is safe: the journal
    /// replays it if the first was applied. The attempts run on the I/O thread.
    async fn call<T: Send + 'static, F: Future<Output = RedisResult<T>> + Send + 'static>(
        &self,
        what: &str,
        attempt: impl Fn(ConnectionManager) -> F + Send + 'static,
    ) -> Result<T, StateError> {
        let attempts = async {
            let connection = self.connection()?;
            let result = self
                .io
                .run(async move {
                    match attempt(connection.clone()).await {
                        Err(e) if e.is_io_error() || e.is_connection_dropped() => attempt(connection).await,
                        result => result,
                    }
                })
                .await;
            if let Err(e) = &result
                && e.kind() == ErrorKind::AuthenticationFailed
            {
                *self.connection.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
            result
        };
        self.bounded(what, attempts).await.inspect_err(|e| self.count(e))
    }

    /// `call` bounded by the call timeout, its failure as [`StateError::Unavailable`].
    async fn bounded<T>(&self, what: &str, call: impl Future<Output = RedisResult<T>>) -> Result<T, StateError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                Err(StateError::Unavailable(self.scrub(format!("Redis at {} failed {what}: {e}", self.server))))
            }
            Err(_) => Err(StateError::Unavailable(format!(
                "Redis at {} did not answer {what} within {} ms",
                self.server,
                self.call_timeout.as_millis()
            ))),
        }
    }

    /// Counts a call that failed as unavailable.
    fn count(&self, error: &StateError) {
        if let StateError::Unavailable(_) = error {
            self.unavailable.fetch_add(1, Ordering::Relaxed);
            self.note(error);
        }
    }

    /// Remembers why Redis was last unreachable.
    fn note(&self, error: &StateError) {
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
    }

    /// `message` without the password, should a Redis error repeat it.
    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(password) => message.replace(password.as_str(), "<redacted>"),
            None => message,
        }
    }

    /// An update: `op` of the script on `key` of `scope`, journaled under `id`, with the
    /// op's own arguments added by `args`.
    async fn update<T: Replayed>(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        kind: UpdateKind,
        id: OpId,
        args: impl FnOnce(&mut ScriptInvocation<'_>),
    ) -> Result<T, StateError> {
        let names = Names::new(tenant, scope);
        let mut invocation = names.invocation(script_op(kind), key);
        invocation
            .key(names.value(key))
            .key(names.journal(&id.hook))
            .arg(id.seq)
            .arg(journal_millis(self.limits.journal_ttl))
            .arg(self.limits.max_keys_per_tenant);
        args(&mut invocation);
        let reply: String = self.run(kind.described(), invocation).await?;
        T::parse(&reply).ok_or_else(|| self.error(&reply, tenant, key, kind, id)).inspect_err(|e| self.count(e))
    }

    /// The error an update replied (`e:` or `m:`), worded as the in-process backend words it;
    /// [`StateError::Unavailable`] if the reply is not one the script makes.
    fn error(&self, reply: &str, tenant: &str, key: &str, kind: UpdateKind, id: OpId) -> StateError {
        let unexpected =
            || StateError::Unavailable(format!("Redis at {} replied {reply:?} to {}", self.server, kind.described()));
        if let Some(recorded) = reply.strip_prefix("m:") {
            return match recorded_kind(recorded) {
                Some(recorded) => StateError::replay_mismatch(id.seq, recorded, kind),
                None => unexpected(),
            };
        }
        let Some(error) = reply.strip_prefix("e:") else { return unexpected() };
        match error.split(':').collect::<Vec<_>>().as_slice() {
            ["nan"] => StateError::not_an_integer(key),
            ["overflow", current, delta] => match current.parse().ok().zip(delta.parse().ok()) {
                Some((current, delta)) => StateError::overflow(key, current, delta),
                None => unexpected(),
            },
            ["quota", held, max] => match held.parse().ok().zip(max.parse().ok()) {
                Some((held, max)) => StateError::quota_exceeded(tenant, held, max, key),
                None => unexpected(),
            },
            _ => unexpected(),
        }
    }
}

/// A result an update's reply `o:<result>` holds.
trait Replayed: Sized {
    /// The result in `reply`; none if it is not `o:` and one of this type.
    fn parse(reply: &str) -> Option<Self>;
}

impl Replayed for () {
    fn parse(reply: &str) -> Option<Self> {
        (reply == "o:").then_some(())
    }
}

impl Replayed for bool {
    fn parse(reply: &str) -> Option<Self> {
        match reply {
            "o:1" => Some(true),
            "o:0" => Some(false),
            _ => None,
        }
    }
}

impl Replayed for u32 {
    fn parse(reply: &str) -> Option<Self> {
        reply.strip_prefix("o:")?.parse().ok()
    }
}

impl Replayed for ClaimOutcome {
    fn parse(reply: &str) -> Option<Self> {
        match reply {
            "o:held" => Some(ClaimOutcome::Held),
            "o:taken" => Some(ClaimOutcome::Taken),
            "o:full" => Some(ClaimOutcome::Full),
            _ => None,
        }
    }
}

impl Replayed for i64 {
    fn parse(reply: &str) -> Option<Self> {
        reply.strip_prefix("o:")?.parse().ok()
    }
}

/// The script's name of the update.
fn script_op(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Set => "set",
        UpdateKind::Delete => "delete",
        UpdateKind::Incr => "incr",
        UpdateKind::CompareAndSet => "cas",
        UpdateKind::Claim => "claim",
        UpdateKind::Release => "release",
    }
}

/// The update the script records as `letter` (the first letter of its journal record).
fn recorded_kind(letter: &str) -> Option<UpdateKind> {
    match letter {
        "s" => Some(UpdateKind::Set),
        "d" => Some(UpdateKind::Delete),
        "i" => Some(UpdateKind::Incr),
        "c" => Some(UpdateKind::CompareAndSet),
        "q" => Some(UpdateKind::Claim),
        "r" => Some(UpdateKind::Release),
        _ => None,
    }
}

/// The Redis key names of one tenant and scope (see the module doc).
struct Names {
    /// `hg:{<tenant>}:`.
    base: String,
    /// `t` or `s<session>`.
    scope: String,
}

impl Names {
    fn new(tenant: &str, scope: &Scope) -> Self {
        let mut base = String::from("hg:{");
        if tenant.is_empty() {
            base.push('%');
        }
        escape(tenant, &mut base);
        base.push_str("}:");
        let scope = match scope {
            Scope::Tenant => String::from("t"),
            Scope::Session(session) => {
                let mut scope = String::from("s");
                escape(session, &mut scope);
                scope
            }
        };
        Names { base, scope }
    }

    /// A script invocation of `op` with the keys and arguments every op takes; `key`: the key,
    /// or the prefix of `keys`.
    fn invocation(&self, op: &str, key: &str) -> ScriptInvocation<'static> {
        let mut invocation = SCRIPT.prepare_invoke();
        invocation
            .key(format!("{}n", self.base))
            .key(format!("{}x", self.base))
            .key(format!("{}k:{}", self.base, self.scope))
            .arg(op)
            .arg(&self.base)
            .arg(&self.scope)
            .arg(key);
        invocation
    }

    fn value(&self, key: &str) -> String {
        format!("{}v:{}:{key}", self.base, self.scope)
    }

    fn journal(&self, hook: &[u8; 32]) -> String {
        let mut name = format!("{}j:", self.base);
        for byte in hook {
            name.push_str(&format!("{byte:02x}"));
        }
        name
    }
}

/// Appends `name` to `out` with `%`, `{`, `}` and `:` percent-escaped.
fn escape(name: &str, out: &mut String) {
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
}

/// `lifetime` in whole ms, rounded up so that a TTL under 1 ms is not none; 0 if none or
/// beyond [`MAX_LIFETIME_MS`].
fn millis(lifetime: impl Into<Option<Duration>>) -> u64 {
    match lifetime.into() {
        Some(lifetime) => {
            let ms = lifetime.as_nanos().div_ceil(1_000_000);
            if ms > MAX_LIFETIME_MS { 0 } else { ms as u64 }
        }
        None => 0,
    }
}

/// The journal window in whole ms, rounded up, at least 1 (0 would delete the journal at once,
/// as a zero window does in process) and at most [`MAX_LIFETIME_MS`] (as good as forever).
fn journal_millis(window: Duration) -> u64 {
    window.as_nanos().div_ceil(1_000_000).clamp(1, MAX_LIFETIME_MS) as u64
}

#[async_trait::async_trait]
impl StateBackend for RedisState {
    async fn get(&self, tenant: &str, scope: &Scope, key: &str) -> Result<Option<String>, StateError> {
        self.limits.check_key(scope, key)?;
        self.query("a get", redis::cmd("GET").arg(Names::new(tenant, scope).value(key)).clone()).await
    }

    async fn set(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<(), StateError> {
        self.limits.check_key(scope, key)?;
        self.limits.check_value(key, value)?;
        let lifetime = millis(self.limits.lifetime(scope, ttl));
        self.update(tenant, scope, key, UpdateKind::Set, op, |invocation| {
            invocation.arg(value).arg(lifetime);
        })
        .await
    }

    async fn delete(&self, tenant: &str, scope: &Scope, key: &str, op: OpId) -> Result<bool, StateError> {
        self.limits.check_key(scope, key)?;
        self.update(tenant, scope, key, UpdateKind::Delete, op, |_| {}).await
    }

    async fn incr(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<i64, StateError> {
        self.limits.check_key(scope, key)?;
        let given = match ttl.filter(|ttl| !ttl.is_zero()) {
            Some(ttl) => millis(self.limits.lifetime(scope, Some(ttl))),
            None => 0,
        };
        let new = millis(self.limits.lifetime(scope, None));
        self.update(tenant, scope, key, UpdateKind::Incr, op, |invocation| {
            invocation.arg(delta).arg(given).arg(new);
        })
        .await
    }

    async fn compare_and_set(
        &self,
        tenant: &str,
        scope: &Scope,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
        ttl: Option<Duration>,
        op: OpId,
    ) -> Result<bool, StateError> {
        self.limits.check_key(scope, key)?;
        if let Some(value) = value {
            self.limits.check_value(key, value)?;
        }
        let lifetime = millis(self.limits.lifetime(scope, ttl));
        self.update(tenant, scope, key, UpdateKind::CompareAndSet, op, |invocation| {
            invocation
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(if value.is_some() { "1" } else { "0" })
                .arg(value.unwrap_or_default())
                .arg(lifetime);
        })
        .await
    }

    async fn claim(
        &self,
        tenant: &str,
        pool: ClaimPool<'_>,
        name: &str,
        session: &str,
        max: u32,
        op: OpId,
    ) -> Result<ClaimOutcome, StateError> {
        let (claim, own) = self.limits.check_claim(pool, name, session)?;
        let note_lifetime = millis(self.limits.lifetime(&own, None));
        self.update(tenant, &Scope::Tenant, &claim, UpdateKind::Claim, op, |invocation| {
            invocation.arg(session).arg(pool.claims).arg(pool.notes).arg(name).arg(max).arg(note_lifetime);
        })
        .await
    }

    async fn release(
        &self,
        tenant: &str,
        pool: ClaimPool<'_>,
        session: &str,
        name: Option<&str>,
        op: OpId,
    ) -> Result<u32, StateError> {
        let own = Scope::Session(session.to_owned());
        // The update's key, which the journal knows it by: the claim, or the session's notes.
        let (scope, key) = match name {
            Some(name) => {
                self.limits.check_key(&own, &pool.note_key(name))?;
                (Scope::Tenant, pool.claim_key(name))
            }
            None => (own, pool.notes.to_owned()),
        };
        self.limits.check_key(&scope, &key)?;
        self.update(tenant, &scope, &key, UpdateKind::Release, op, |invocation| {
            invocation
                .arg(session)
                .arg(pool.claims)
                .arg(pool.notes)
                .arg(if name.is_some() { "1" } else { "0" })
                .arg(name.unwrap_or_default());
        })
        .await
    }

    async fn keys(&self, tenant: &str, scope: &Scope, prefix: &str) -> Result<Vec<String>, StateError> {
        self.limits.check_scope(scope)?;
        self.run("a keys listing", Names::new(tenant, scope).invocation("keys", prefix)).await
    }

    async fn end_session(&self, tenant: &str, session: &str) -> Result<usize, StateError> {
        let scope = Scope::Session(session.to_owned());
        let mut end_owner = END_OWNER.prepare_invoke();
        end_owner.key(owner_key(session)).arg(tenant);
        // Both at once: they share the connection, so the second rides the first's round trip.
        let (deleted, owner) = tokio::join!(
            self.run("an end_session", {
                let mut end = Names::new(tenant, &scope).invocation("end", "");
                end.arg(session);
                end
            }),
            self.run::<u64>("an end_session", end_owner)
        );
        owner?;
        deleted
    }

    async fn bind_session(&self, tenant: &str, session: &str) -> Result<(), StateError> {
        self.limits.check_scope(&Scope::Session(session.to_owned()))?;
        let mut set = redis::cmd("SET");
        set.arg(owner_key(session)).arg(tenant);
        if let ttl @ 1.. = millis(self.limits.session_ttl) {
            set.arg("PX").arg(ttl);
        }
        self.query("a bind_session", set).await
    }

    async fn session_tenant(&self, session: &str) -> Result<Option<String>, StateError> {
        self.query("a session lookup", redis::cmd("GET").arg(owner_key(session)).clone()).await
    }

    /// Probes Redis with a `PING` within the call timeout.
    async fn health(&self) -> BackendHealth {
        let probe = async {
            let mut connection = self.connection()?;
            self.io.run(async move { redis::cmd("PING").query_async::<String>(&mut connection).await }).await
        };
        let up = match self.bounded("a health probe", probe).await {
            Ok(_) => true,
            Err(error) => {
                self.note(&error);
                false
            }
        };
        BackendHealth {
            up,
            unavailable: self.unavailable.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escape_so_that_no_crafted_name_reaches_another() {
        let names = Names::new("a:b}{c%", &Scope::Session("s:1".into()));
        assert_eq!(names.base, "hg:{a%3Ab%7D%7Bc%25}:");
        assert_eq!(names.value("k:x"), "hg:{a%3Ab%7D%7Bc%25}:v:ss%3A1:k:x");
        assert_eq!(Names::new("", &Scope::Tenant).value("k"), "hg:{%}:v:t:k");
        assert_eq!(Names::new("%", &Scope::Tenant).base, "hg:{%25}:");
        // A session named like the tenant scope is still a session.
        assert_eq!(Names::new("t", &Scope::Session("t".into())).value("k"), "hg:{t}:v:st:k");
        let hook = [0xab; 32];
        assert_eq!(Names::new("t", &Scope::Tenant).journal(&hook), format!("hg:{{t}}:j:{}", "ab".repeat(32)));
    }

    #[test]
    fn a_config_prints_without_the_password() {
        for (url, shown) in [
            ("redis://:pw@host:6379/2", "redis://:***@host:6379/2"),
            ("redis://user:pw@host", "redis://user:***@host"),
            ("redis://host:6379", "redis://host:6379"),
            ("redis+unix:///run/redis.sock?db=1&pass=pw", "redis+unix:///run/redis.sock?db=1&pass=***"),
        ] {
            let config = format!("{:?}", RedisStateConfig::new(url));
            assert!(config.contains(&format!("url: {shown:?}")) && !config.contains("pw"), "{config}");
        }
    }

    #[test]
    fn lifetimes_round_up_to_milliseconds_and_absurd_ones_are_none() {
        assert_eq!(millis(None), 0);
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::from_millis(250)), 250);
        assert_eq!(millis(Duration::from_secs(u64::MAX)), 0);
        assert_eq!(journal_millis(Duration::ZERO), 1);
        assert_eq!(journal_millis(Duration::from_secs(600)), 600_000);
        assert_eq!(journal_millis(Duration::from_secs(u64::MAX)), MAX_LIFETIME_MS as u64);
    }
}
