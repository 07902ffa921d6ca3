//! [`Server`]: the composition root. [`Server::from_config`] builds everything a
//! [`ServerConfig`] asks for (the wasm engine, the policy registry and its watcher, the state
//! backend, the event hub and bus, send-data delivery, the decision log) and binds the
//! listeners; [`Server::run`] serves until a shutdown signal, then lets in-flight hooks finish
//! within the grace period and writes out the decision log.

use crate::config::ServerConfig;
use crate::connections::ConnectionLimits;
use crate::decision_log::DecisionLog;
use crate::effects::Effects;
use crate::server_error::ServerError;
use crate::state::AppState;
use crate::{AdminAccess, admin_router, router};
use axum::Router;
use hookgate_config::{AuthConfig, ClusterSettings};
use hookgate_events::{BusConfig, EventHub, EventService, RedisBus};
use hookgate_outbox::DataSender;
use hookgate_redis::{RedisState, RedisStateConfig};
use hookgate_registry::Registry;
use hookgate_runtime::Runtime;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

/// Longest admin token file read: the token is its first line.
const MAX_TOKEN_FILE: u64 = 4096;
/// The longest a `state` call waits for Redis unless `[cluster] call_timeout_ms` says.
const DEFAULT_CALL_TIMEOUT_MS: u64 = 250;
/// Connections the kernel may queue before hookgate accepts them (tokio's default is 1024:
/// bursts of thousands of WCS connections would wait for SYN retransmits).
const LISTEN_BACKLOG: u32 = 8192;

/// A built server: its listeners bound, its policies loaded, not serving yet.
pub struct Server {
    state: AppState,
    decisions: Option<DecisionLog>,
    hooks: (TcpListener, ConnectionLimits),
    admin: Option<(TcpListener, ConnectionLimits, AdminAccess)>,
    events: Option<(TcpListener, EventService)>,
    grace: Duration,
}

impl Server {
    /// Builds everything `config` asks for and binds its listeners. Call inside a tokio runtime.
    pub async fn from_config(config: ServerConfig) -> Result<Server, ServerError> {
        let auth = hook_auth(&config)?;
        let runtime = Runtime::new(config.runtime()).map_err(|err| ServerError::Engine(format!("{err:#}")))?;
        let policies = &config.policies;
        let (registry, issues) = Registry::load(runtime, policies, config.tenant_bounds()).await;
        for issue in &issues {
            tracing::error!(tenant = %issue.tenant, "{}", issue.message);
        }
        if let Some(issue) = issues.iter().find(|issue| issue.tenant_skipped) {
            return Err(ServerError::PolicyTree { path: policies.clone(), message: issue.message.clone() });
        }
        registry.watch().map_err(|err| ServerError::Watch { path: policies.clone(), message: err.to_string() })?;
        let names: Vec<_> = registry.statuses().into_iter().map(|status| status.tenant).collect();
        tracing::info!(policies = %policies.display(), tenants = ?names, "policy tree loaded, watching for changes");

        let decisions = DecisionLog::start(&config.decision_log.target).map_err(ServerError::DecisionLog)?;
        let hub = EventHub::new();
        let (services, bus) = match config.cluster.as_ref().filter(|cluster| cluster.redis_url.is_some()) {
            Some(cluster) => fleet(cluster, &hub).map(|(services, bus)| (services, Some(bus)))?,
            None => (hookgate_engine::Services::in_process(), None),
        };
        let services = hookgate_engine::Services { auth: Arc::new(auth), ..services };
        let data = config.send_data.clone().map(DataSender::start).transpose().map_err(ServerError::SendData)?;
        let effects = Arc::new(Effects { hub, data, bus });
        let state = AppState::new(registry, config.body_limit, decisions.clone(), services, Arc::clone(&effects));

        let header_read_timeout = Duration::from_millis(config.header_read_timeout_ms);
        let limits = |listener, idle_timeout_ms, max_connections| ConnectionLimits {
            listener,
            header_read_timeout,
            idle_timeout: Duration::from_millis(idle_timeout_ms),
            max_connections,
        };
        let hooks = bind(&config.hooks.listen).await?;
        let hooks = (hooks, limits("hooks", config.hooks.idle_timeout_ms, config.hooks.max_connections));
        let admin = match &config.admin.listen {
            Some(address) => {
                let access = admin_access(&config)?;
                let listener = TcpListener::bind(address)
                    .await
                    .map_err(|source| ServerError::Listen { address: address.clone(), source })?;
                let address = local_addr(&listener);
                if !address.ip().is_loopback() && access.token.is_none() {
                    return Err(ServerError::AdminExposed { address });
                }
                Some((listener, limits("admin", config.admin.idle_timeout_ms, config.admin.max_connections), access))
            }
            None => None,
        };
        let events = match &config.web_socket_events {
            Some(events) => {
                let service = EventService::new(events, effects.hub.clone()).map_err(ServerError::Events)?;
                Some((bind(&events.socket_address()).await?, service))
            }
            None => None,
        };
        Ok(Server { state, decisions, hooks, admin, events, grace: config.shutdown_grace() })
    }

    /// The hook listener's address.
    pub fn hooks_address(&self) -> SocketAddr {
        local_addr(&self.hooks.0)
    }

    /// The admin listener's address, when it listens.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(listener, ..)| local_addr(listener))
    }

    /// The event service's address, when it listens.
    pub fn events_address(&self) -> Option<SocketAddr> {
        self.events.as_ref().map(|(listener, _)| local_addr(listener))
    }

    /// The hook listener's routes, for serving elsewhere or testing with `oneshot`.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// A handle to the decision log, when there is one, to [`DecisionLog::reopen`] it after a
    /// rotation while the server runs.
    pub fn decision_log(&self) -> Option<DecisionLog> {
        self.decisions.clone()
    }

    /// What the handlers share.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves every listener until `shutdown` resolves; then stops accepting, gives in-flight
    /// hooks the grace period to finish, and writes out the decision log (within the grace
    /// period too). Listener failures are logged.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server { state, decisions, hooks, admin, events, grace } = self;
        let (stop, stopped) = watch::channel(false);
        let mut servers = tokio::task::JoinSet::new();
        let (listener, limits) = hooks;
        let (routes, hooks_state, stop_hooks) = (router(state.clone()), state.clone(), stopped_signal(&stopped));
        servers.spawn(async move { crate::serve(listener, routes, limits, &hooks_state, stop_hooks).await });
        if let Some((listener, limits, access)) = admin {
            let (routes, stop_admin) = (admin_router(state.clone(), access), stopped_signal(&stopped));
            servers.spawn(async move { crate::serve(listener, routes, limits, &state, stop_admin).await });
        }
        if let Some((listener, service)) = events {
            let stop_events = stopped_signal(&stopped);
            servers.spawn(async move {
                service.serve(listener, stop_events).await;
                Ok(())
            });
        }

        shutdown.await;
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: no new connections, finishing in-flight hooks"
        );
        let _ = stop.send(true);
        let drained = tokio::time::timeout(grace, async {
            while let Some(result) = servers.join_next().await {
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::error!("listener failed: {err}"),
                    Err(err) => tracing::error!("listener task failed: {err}"),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight hooks still running after the grace period; exiting");
        }
        if let Some(log) = decisions {
            // A thread of its own, not the runtime's blocking pool: dropping the runtime would
            // wait for it, so a stalled disk would hold the exit past the grace period.
            let (closed, done) = tokio::sync::oneshot::channel();
            let closing = std::thread::Builder::new().name("hookgate-decisions-close".into()).spawn(move || {
                log.close();
                let _ = closed.send(());
            });
            if closing.is_err() || tokio::time::timeout(grace, done).await.is_err() {
                tracing::warn!("the decision log was still writing after the grace period; exiting");
            }
        }
        tracing::info!("stopped");
    }
}

/// `[auth]` of the config file, read; refuses to serve hooks on an address other than loopback
/// without it unless `allow_unauthenticated_hooks = true`.
fn hook_auth(config: &ServerConfig) -> Result<AuthConfig, ServerError> {
    let listen = &config.hooks.listen;
    let Some(settings) = &config.auth else {
        let exposed = std::net::ToSocketAddrs::to_socket_addrs(listen.as_str())
            .map_err(|source| ServerError::Listen { address: listen.clone(), source })?
            .any(|address| !address.ip().is_loopback());
        if exposed && !config.allow_unauthenticated_hooks {
            return Err(ServerError::Unauthenticated { listen: listen.clone() });
        }
        return Ok(AuthConfig::default());
    };
    let path = config.source.as_deref().unwrap_or(Path::new("hookgate.toml"));
    Ok(settings.resolve(path)?)
}

/// The admin listener's access rules: the token of `token_file` (its first line, read
/// bounded), and the extra host names. `hookgate reload` reads the token the same way.
pub fn admin_access(config: &ServerConfig) -> Result<AdminAccess, ServerError> {
    let token = match &config.admin.token_file {
        Some(file) => {
            let invalid = |reason: String| ServerError::Invalid {
                key: "admin.token_file",
                reason: format!("{}: {reason}", file.display()),
            };
            let bytes = hookgate_config::read_operator_file(file, MAX_TOKEN_FILE, "the cap of [admin] token_file")
                .map_err(|err| invalid(err.to_string()))?;
            let text = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8".into()))?;
            let token = text.lines().next().unwrap_or_default().trim();
            if token.is_empty() {
                return Err(invalid("the first line (the token) is empty".into()));
            }
            Some(token.to_owned())
        }
        None => None,
    };
    Ok(AdminAccess { token, allowed_hosts: config.admin.allowed_hosts.clone() })
}

/// The services of a fleet instance: `state` in Redis, and `hub`'s events through Redis (the
/// URL with its password, if any, from `redis_password_file`, and the CA of `tls_ca_file`).
/// Neither needs Redis to be up now: both connect in the background and reconnect by themselves.
fn fleet(cluster: &ClusterSettings, hub: &EventHub) -> Result<(hookgate_engine::Services, RedisBus), ServerError> {
    let invalid = |key, reason: String| ServerError::Invalid { key, reason };
    let raw = cluster.redis_url.as_deref().unwrap_or_default();
    let mut url =
        url::Url::parse(raw).map_err(|_| invalid("cluster.redis_url", "is not a URL (redis://host:port/db)".into()))?;
    if let Some(file) = &cluster.redis_password_file {
        let password = std::fs::read_to_string(file)
            .map_err(|err| invalid("cluster.redis_password_file", format!("{}: {err}", file.display())))?;
        let password = password.lines().next().unwrap_or_default();
        url.set_password(Some(password))
            .map_err(|()| invalid("cluster.redis_url", "cannot carry a password".into()))?;
    }
    let tls_ca = match &cluster.tls_ca_file {
        Some(file) => Some(
            std::fs::read(file).map_err(|err| invalid("cluster.tls_ca_file", format!("{}: {err}", file.display())))?,
        ),
        None => None,
    };
    let url = url.to_string();
    let channel = cluster.channel.clone().unwrap_or_else(|| hookgate_events::DEFAULT_CHANNEL.to_owned());
    let call_timeout = Duration::from_millis(cluster.call_timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS));
    let state = RedisStateConfig { call_timeout, tls_ca: tls_ca.clone(), ..RedisStateConfig::new(url.clone()) };
    let state = RedisState::new(state).map_err(ServerError::RedisState)?;
    let bus = BusConfig { channel: channel.clone(), tls_ca, ..BusConfig::new(url) };
    let bus = RedisBus::start(hub, bus).map_err(ServerError::Bus)?;
    tracing::info!(%channel, "cluster: state and events shared through Redis");
    Ok((hookgate_engine::Services::new(state), bus))
}

/// Binds a listener on `address` (`host:port`) with a deep accept backlog.
async fn bind(address: &str) -> Result<TcpListener, ServerError> {
    let failed = |source| ServerError::Listen { address: address.to_owned(), source };
    let resolved = tokio::net::lookup_host(address)
        .await
        .map_err(failed)?
        .next()
        .ok_or_else(|| failed(std::io::Error::other("the address resolves to nothing")))?;
    let socket = if resolved.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(failed)?;
    socket.set_reuseaddr(true).map_err(failed)?;
    socket.bind(resolved).map_err(failed)?;
    socket.listen(LISTEN_BACKLOG).map_err(failed)
}

/// A bound listener's address (known once bound).
fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Resolves once `stop` turns true.
fn stopped_signal(stopped: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stopped = stopped.clone();
    async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }
}
