//! `hookgate serve`: the hook listener and the admin listener, with hot reload.

use anyhow::{Context as _, Result, bail};
use hookgate_config::{
    AdminListener, AuthConfig, ClusterSettings, DecisionLogSettings, Listener, LogSettings, ServerFile,
};
use hookgate_events::{BusConfig, EventHub, EventService, EventsConfig, RedisBus};
use hookgate_registry::Registry;
use hookgate_runtime::{Runtime, RuntimeConfig};
use hookgate_server::{
    AdminAccess, AppState, ConnectionLimits, DEFAULT_BODY_LIMIT, DataSender, DecisionLog, DecisionTarget, Effects,
    SendDataConfig,
};
use hookgate_state::{RedisState, RedisStateConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

/// The `cache_dir` that turns the compile cache off.
const CACHE_OFF: &str = "off";
/// Default time in-flight hooks get to finish after SIGTERM.
const DEFAULT_GRACE_MS: u64 = 10_000;
/// Default time a client gets to send request headers.
const DEFAULT_HEADER_TIMEOUT_MS: u64 = hookgate_server::DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64;
/// Default idle bound of a connection of either listener.
const DEFAULT_IDLE_TIMEOUT_MS: u64 = hookgate_server::DEFAULT_IDLE_TIMEOUT.as_millis() as u64;
/// Longest admin token file read: the token is its first line.
const MAX_TOKEN_FILE: u64 = 4096;

/// Arguments of `serve`. Flags and `HOOKGATE_*` variables win over the config file.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Config file (hookgate.toml).
    #[arg(long, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
    /// The policy tree [default: policies].
    #[arg(long, env = "HOOKGATE_POLICIES")]
    policies: Option<PathBuf>,
    /// Address of the hook listener [default: 127.0.0.1:8090].
    #[arg(long, env = "HOOKGATE_LISTEN")]
    listen: Option<String>,
    /// Address of the admin listener (health, metrics, /api/policies) [default: off].
    #[arg(long, env = "HOOKGATE_ADMIN_LISTEN")]
    admin_listen: Option<String>,
    /// Address of the WebSocket event service, overriding `[webSocketEvents] address` and
    /// `port` (its keys and users come from the config file) [default: off].
    #[arg(long, env = "HOOKGATE_EVENTS_LISTEN")]
    events_listen: Option<String>,
    /// Redis shared with other hookgate instances (`state` and events), overriding
    /// `[cluster] redis_url` [default: none: this process keeps its own].
    #[arg(long, env = "HOOKGATE_REDIS_URL")]
    redis_url: Option<String>,
    /// Where compiled modules are cached by digest (restarts and reloads load them instead of
    /// compiling), or `off` [default: $XDG_CACHE_HOME/hookgate, else ~/.cache/hookgate]. Only
    /// hookgate's user may write there: wasmtime runs the native code it finds.
    #[arg(long, env = "HOOKGATE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Largest accepted hook body in bytes [default: 1048576].
    #[arg(long, env = "HOOKGATE_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "HOOKGATE_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Decision log: off, stdout, or a file to append to [default: off].
    #[arg(long, env = "HOOKGATE_DECISION_LOG")]
    decision_log: Option<String>,
    /// Milliseconds in-flight hooks get to finish after SIGTERM [default: 10000].
    #[arg(long, env = "HOOKGATE_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// Milliseconds a client gets to send request headers [default: 10000].
    #[arg(long, env = "HOOKGATE_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// Print the effective configuration (file, then variables and flags) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// The file's settings with every flag and variable applied, and defaults filled in.
fn effective(args: &Args) -> Result<ServerFile> {
    let file = match &args.config {
        Some(path) => hookgate_config::load_server_file(path)?,
        None => ServerFile::default(),
    };
    let mut events = file.web_socket_events;
    if let Some(address) = &args.events_listen {
        let (host, port) = address.rsplit_once(':').context("--events-listen must be host:port")?;
        let port: i64 = port.parse().context("--events-listen port")?;
        let table = events
            .as_mut()
            .context("--events-listen needs a [webSocketEvents] table in the config file (issuer, keys, users)")?;
        table.insert("address".into(), toml::Value::String(host.to_owned()));
        table.insert("port".into(), toml::Value::Integer(port));
    }
    Ok(ServerFile {
        policies: Some(args.policies.clone().or(file.policies).unwrap_or_else(|| PathBuf::from("policies"))),
        body_limit: Some(args.body_limit.or(file.body_limit).unwrap_or(DEFAULT_BODY_LIMIT)),
        max_concurrent: Some(file.max_concurrent.unwrap_or(RuntimeConfig::default().max_concurrent)),
        cache_dir: args
            .cache_dir
            .clone()
            .or(file.cache_dir)
            .or_else(RuntimeConfig::default_cache_dir)
            .or_else(|| Some(PathBuf::from(CACHE_OFF))),
        hooks: Listener {
            listen: Some(args.listen.clone().or(file.hooks.listen).unwrap_or_else(|| "127.0.0.1:8090".into())),
            idle_timeout_ms: Some(file.hooks.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS)),
            max_connections: Some(file.hooks.max_connections.unwrap_or(hookgate_server::DEFAULT_MAX_CONNECTIONS)),
        },
        admin: AdminListener {
            listen: args.admin_listen.clone().or(file.admin.listen),
            idle_timeout_ms: Some(file.admin.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS)),
            max_connections: Some(file.admin.max_connections.unwrap_or(hookgate_server::DEFAULT_ADMIN_MAX_CONNECTIONS)),
            ..file.admin
        },
        web_socket_events: events,
        send_data: file.send_data,
        log: LogSettings {
            format: Some(args.log_format.clone().or(file.log.format).unwrap_or_else(|| "text".into())),
            level: Some(file.log.level.unwrap_or_else(|| "info".into())),
        },
        decision_log: DecisionLogSettings {
            target: Some(args.decision_log.clone().or(file.decision_log.target).unwrap_or_else(|| "off".into())),
        },
        shutdown_grace_ms: Some(args.shutdown_grace_ms.or(file.shutdown_grace_ms).unwrap_or(DEFAULT_GRACE_MS)),
        limits: Some(file.limits.unwrap_or_default()),
        tenants: Some(file.tenants.unwrap_or_default()),
        header_read_timeout_ms: Some(
            args.header_read_timeout_ms.or(file.header_read_timeout_ms).unwrap_or(DEFAULT_HEADER_TIMEOUT_MS),
        ),
        auth: file.auth,
        allow_unauthenticated_hooks: Some(file.allow_unauthenticated_hooks.unwrap_or(false)),
        cluster: match (file.cluster, &args.redis_url) {
            (cluster, None) => cluster,
            (cluster, Some(url)) => {
                Some(ClusterSettings { redis_url: Some(url.clone()), ..cluster.unwrap_or_default() })
            }
        },
    })
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let config = effective(&args)?;
    if args.print_config {
        let printed = ServerFile { cluster: config.cluster.as_ref().map(ClusterSettings::masked), ..config };
        print!("{}", toml::to_string(&printed).context("cannot print the configuration")?);
        return Ok(ExitCode::SUCCESS);
    }
    super::init_logging(config.log.level.as_deref().unwrap_or("info"), config.log.format.as_deref() == Some("json"));
    let config_dir = args.config.as_deref().and_then(Path::parent).map(Path::to_owned).unwrap_or_default();
    let events = match &config.web_socket_events {
        Some(table) => {
            let mut events: EventsConfig =
                table.clone().try_into().context("invalid [webSocketEvents] in the config file")?;
            events.resolve_relative_to(&config_dir);
            Some(events)
        }
        None => None,
    };
    let send_data = match &config.send_data {
        Some(table) => {
            let mut send_data: SendDataConfig =
                table.clone().try_into().context("invalid [send_data] in the config file")?;
            send_data.basic_password_file = send_data.basic_password_file.map(|file| config_dir.join(file));
            Some(send_data)
        }
        None => None,
    };
    let cluster = match &config.cluster {
        Some(settings) if settings.redis_url.is_some() => Some(Cluster::from_settings(settings)?),
        _ => None,
    };
    let auth = hook_auth(&args, &config)?;
    let policies = config.policies.clone().unwrap_or_default();
    let decisions = match config.decision_log.target.as_deref() {
        None | Some("off") => DecisionTarget::Off,
        Some("stdout") => DecisionTarget::Stdout,
        Some(path) => DecisionTarget::File(PathBuf::from(path)),
    };
    let runtime_config = RuntimeConfig {
        max_concurrent: config.max_concurrent.unwrap_or(RuntimeConfig::default().max_concurrent),
        cache_dir: config.cache_dir.clone().filter(|dir| dir.as_os_str() != CACHE_OFF),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(runtime_config)
        .map_err(|err| anyhow::anyhow!("{err:#}"))
        .context("cannot start the wasm engine")?;
    super::tokio_runtime()?.block_on(async move {
        let (registry, issues) = Registry::load(runtime, &policies, config.tenant_bounds()).await;
        for issue in &issues {
            tracing::error!(tenant = %issue.tenant, "{}", issue.message);
        }
        if let Some(issue) = issues.iter().find(|issue| issue.tenant_skipped) {
            bail!("cannot serve {}: {}", policies.display(), issue.message);
        }
        registry.watch().with_context(|| format!("cannot watch {}", policies.display()))?;
        let names: Vec<_> = registry.statuses().into_iter().map(|status| status.tenant).collect();
        tracing::info!(policies = %policies.display(), tenants = ?names, "policy tree loaded, watching for changes");

        let decisions = DecisionLog::start(&decisions).context("cannot open the decision log")?;
        let hub = EventHub::new();
        let (services, bus) = match &cluster {
            Some(cluster) => fleet(cluster, &hub).map(|(services, bus)| (services, Some(bus)))?,
            None => (hookgate_engine::Services::in_process(), None),
        };
        let services = hookgate_engine::Services { auth: Arc::new(auth), ..services };
        let data = send_data.map(DataSender::start).transpose().context("cannot start send-data delivery")?;
        let effects = Arc::new(Effects { hub, data, bus });
        let body_limit = config.body_limit.unwrap_or(DEFAULT_BODY_LIMIT);
        let decision_log = decisions.clone();
        let state = AppState::new(registry, body_limit, decisions, services, Arc::clone(&effects));
        let (stop, stopped) = watch::channel(false);
        let mut servers = tokio::task::JoinSet::new();

        let listen = config.hooks.listen.clone().unwrap_or_default();
        let hooks = bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        println!("hookgate listening: hooks=http://{}", hooks.local_addr()?);
        let header_timeout = Duration::from_millis(config.header_read_timeout_ms.unwrap_or(DEFAULT_HEADER_TIMEOUT_MS));
        let limits =
            connection_limits("hooks", header_timeout, config.hooks.idle_timeout_ms, config.hooks.max_connections)?;
        let router = hookgate_server::router(state.clone());
        let hooks_state = state.clone();
        let stop_hooks = stopped_signal(&stopped);
        servers.spawn(async move { hookgate_server::serve(hooks, router, limits, &hooks_state, stop_hooks).await });
        if let Some(admin_listen) = &config.admin.listen {
            let access = admin_access(&config.admin)?;
            let limits =
                connection_limits("admin", header_timeout, config.admin.idle_timeout_ms, config.admin.max_connections)?;
            let admin =
                TcpListener::bind(admin_listen).await.with_context(|| format!("cannot listen on {admin_listen}"))?;
            let address = admin.local_addr()?;
            if !address.ip().is_loopback() && access.token.is_none() {
                bail!(
                    "the admin listener {address} is not on a loopback address and has no token: anyone who can \
                     reach it could read /api/policies and force reloads; set [admin] token_file, or listen on \
                     127.0.0.1 or [::1]"
                );
            }
            println!("hookgate listening: admin=http://{address}");
            let router = hookgate_server::admin_router(state.clone(), access);
            let stop_admin = stopped_signal(&stopped);
            servers.spawn(async move { hookgate_server::serve(admin, router, limits, &state, stop_admin).await });
        }

        if let Some(events) = &events {
            let service = EventService::new(events, effects.hub.clone()).context("cannot start the event service")?;
            let address = events.socket_address();
            let listener = bind(&address).await.with_context(|| format!("cannot listen on {address}"))?;
            println!("hookgate listening: events=ws://{}/ws", listener.local_addr()?);
            let stopped = stopped_signal(&stopped);
            servers.spawn(async move {
                service.serve(listener, stopped).await;
                Ok(())
            });
        }

        shutdown_signal().await;
        let grace = Duration::from_millis(config.shutdown_grace_ms.unwrap_or(DEFAULT_GRACE_MS));
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: no new connections, finishing in-flight hooks"
        );
        let _ = stop.send(true);
        let drained = tokio::time::timeout(grace, async {
            while let Some(result) = servers.join_next().await {
                if let Err(err) = result.context("listener task failed").and_then(|r| r.context("listener failed")) {
                    tracing::error!("{err:#}");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight hooks still running after the grace period; exiting");
        }
        if let Some(log) = decision_log {
            let closed = tokio::time::timeout(grace, tokio::task::spawn_blocking(move || log.close())).await;
            if closed.is_err() {
                tracing::warn!("the decision log was still writing after the grace period; exiting");
            }
        }
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `[auth]` of the config file, read; refuses to serve hooks on an address other than loopback
/// without it unless `allow_unauthenticated_hooks = true`.
fn hook_auth(args: &Args, config: &ServerFile) -> Result<AuthConfig> {
    let listen = config.hooks.listen.as_deref().unwrap_or_default();
    let Some(settings) = &config.auth else {
        let exposed = std::net::ToSocketAddrs::to_socket_addrs(listen)
            .with_context(|| format!("cannot resolve the hook address {listen}"))?
            .any(|address| !address.ip().is_loopback());
        if exposed && config.allow_unauthenticated_hooks != Some(true) {
            bail!(
                "refusing to serve hooks on {listen} without authentication: anyone who can reach that address \
                 could send forged hooks (connect, events, session ends). Set [auth] hmac_key_file (WCS's \
                 rest_hook_secret_key) or basic_user + basic_password_file in hookgate.toml, or, if a network \
                 boundary already authenticates WCS, set allow_unauthenticated_hooks = true in hookgate.toml"
            );
        }
        return Ok(AuthConfig::default());
    };
    let path = args.config.as_deref().unwrap_or(Path::new("hookgate.toml"));
    Ok(settings.resolve(path)?)
}

/// How a listener bounds its connections, from its settings (defaults already filled in).
fn connection_limits(
    listener: &'static str,
    header_read_timeout: Duration,
    idle_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
) -> Result<ConnectionLimits> {
    let idle_timeout_ms = idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS);
    if idle_timeout_ms == 0 {
        bail!("[{listener}] idle_timeout_ms must be at least 1");
    }
    let max_connections = max_connections.unwrap_or(hookgate_server::DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        bail!("[{listener}] max_connections must be at least 1");
    }
    if header_read_timeout.is_zero() {
        bail!("header_read_timeout_ms must be at least 1");
    }
    Ok(ConnectionLimits {
        listener,
        header_read_timeout,
        idle_timeout: Duration::from_millis(idle_timeout_ms),
        max_connections,
    })
}

/// The admin listener's access rules: the token of `token_file` (its first line, read
/// bounded), and the extra host names.
fn admin_access(admin: &AdminListener) -> Result<AdminAccess> {
    let token = match &admin.token_file {
        Some(file) => {
            let bytes = hookgate_config::read_operator_file(file, MAX_TOKEN_FILE, "the cap of [admin] token_file")
                .with_context(|| format!("[admin] token_file {}", file.display()))?;
            let text = String::from_utf8(bytes).with_context(|| format!("[admin] token_file {}", file.display()))?;
            let token = text.lines().next().unwrap_or_default().trim();
            if token.is_empty() {
                bail!("[admin] token_file {}: the first line (the token) is empty", file.display());
            }
            Some(token.to_owned())
        }
        None => None,
    };
    Ok(AdminAccess { token, allowed_hosts: admin.allowed_hosts.clone().unwrap_or_default() })
}

/// `[cluster]` as the backends take it: the Redis URL with its password, if any, from
/// `redis_password_file`, and the CA of `tls_ca_file`.
struct Cluster {
    url: String,
    channel: String,
    call_timeout: Duration,
    tls_ca: Option<Vec<u8>>,
}

/// The longest a `state` call waits for Redis unless `[cluster] call_timeout_ms` says.
const DEFAULT_CALL_TIMEOUT_MS: u64 = 250;

impl Cluster {
    fn from_settings(settings: &ClusterSettings) -> Result<Cluster> {
        let raw = settings.redis_url.as_deref().unwrap_or_default();
        let mut url = url::Url::parse(raw).context("[cluster] redis_url is not a URL (redis://host:port/db)")?;
        if let Some(file) = &settings.redis_password_file {
            let password = std::fs::read_to_string(file)
                .with_context(|| format!("[cluster] redis_password_file {}", file.display()))?;
            let password = password.lines().next().unwrap_or_default();
            url.set_password(Some(password))
                .map_err(|()| anyhow::anyhow!("[cluster] redis_url cannot carry a password"))?;
        }
        let tls_ca = match &settings.tls_ca_file {
            Some(file) => {
                Some(std::fs::read(file).with_context(|| format!("[cluster] tls_ca_file {}", file.display()))?)
            }
            None => None,
        };
        Ok(Cluster {
            tls_ca,
            url: url.to_string(),
            channel: settings.channel.clone().unwrap_or_else(|| hookgate_events::DEFAULT_CHANNEL.to_owned()),
            call_timeout: Duration::from_millis(settings.call_timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS)),
        })
    }
}

/// The services of a fleet instance: `state` in Redis, and `hub`'s events through Redis.
/// Neither needs Redis to be up now: both connect in the background and reconnect by themselves.
fn fleet(cluster: &Cluster, hub: &EventHub) -> Result<(hookgate_engine::Services, RedisBus)> {
    let state = RedisStateConfig {
        call_timeout: cluster.call_timeout,
        tls_ca: cluster.tls_ca.clone(),
        ..RedisStateConfig::new(cluster.url.clone())
    };
    let state = RedisState::new(state).context("cannot set up the Redis state backend")?;
    let bus = BusConfig {
        channel: cluster.channel.clone(),
        tls_ca: cluster.tls_ca.clone(),
        ..BusConfig::new(cluster.url.clone())
    };
    let bus = RedisBus::start(hub, bus).context("cannot set up the Redis event bus")?;
    tracing::info!(channel = %cluster.channel, "cluster: state and events shared through Redis");
    Ok((hookgate_engine::Services::new(state), bus))
}

/// Connections the kernel may queue before hookgate accepts them (tokio's default is 1024:
/// bursts of thousands of WCS connections would wait for SYN retransmits).
const LISTEN_BACKLOG: u32 = 8192;

/// Binds a listener on `address` (`host:port`) with a deep accept backlog.
async fn bind(address: &str) -> Result<TcpListener> {
    let resolved = tokio::net::lookup_host(address).await?.next().context("the address resolves to nothing")?;
    let socket = if resolved.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(resolved)?;
    Ok(socket.listen(LISTEN_BACKLOG)?)
}

/// Resolves once `stop` turns true.
fn stopped_signal(stopped: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut stopped = stopped.clone();
    async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!("cannot watch SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
