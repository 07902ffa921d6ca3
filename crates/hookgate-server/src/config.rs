//! [`ServerConfig`]: `hookgate.toml`, then `HOOKGATE_*` variables, then flags ([`Overrides`]),
//! resolved in one place: every value present with its default filled in here and nowhere else,
//! relative paths made relative to the config file's folder (by
//! [`hookgate_config::load_server_file`] and, for the tables other crates own, here), and every
//! section checked, so `hookgate check --config` and `serve --print-config` refuse what `serve`
//! would.

use crate::connections::{DEFAULT_ADMIN_MAX_CONNECTIONS, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT};
use crate::{DEFAULT_BODY_LIMIT, DEFAULT_MAX_CONNECTIONS, DecisionTarget, TracingConfig};
use hookgate_config::{ClusterSettings, ConfigError, HookAuthSettings, Limits, ServerFile, TenantBounds, from_table};
use hookgate_events::EventsConfig;
use hookgate_outbox::SendDataConfig;
use hookgate_runtime::RuntimeConfig;
use serde::{Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The hook listener's address unless configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";
/// Time in-flight hooks get to finish after SIGTERM unless configured.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The `cache_dir` that turns the compile cache off.
const CACHE_OFF: &str = "off";

/// Values that win over the config file: flags, or the `HOOKGATE_*` variables that stand for them.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The policy tree.
    pub policies: Option<PathBuf>,
    /// The hook listener's `host:port`.
    pub listen: Option<String>,
    /// The admin listener's `host:port`.
    pub admin_listen: Option<String>,
    /// The event service's `host:port`, overriding `[webSocketEvents] address` and `port`.
    pub events_listen: Option<String>,
    /// `[cluster] redis_url`.
    pub redis_url: Option<String>,
    /// The compile cache's folder, or `off`.
    pub cache_dir: Option<PathBuf>,
    /// Largest accepted hook body, in bytes.
    pub body_limit: Option<usize>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// `off`, `stdout`, or a file.
    pub decision_log: Option<String>,
    /// Milliseconds in-flight hooks get after SIGTERM.
    pub shutdown_grace_ms: Option<u64>,
    /// Milliseconds a client gets to send request headers.
    pub header_read_timeout_ms: Option<u64>,
}

/// Everything `hookgate serve` runs with. Serialises as `hookgate.toml` spells it
/// (`--print-config`), with a Redis password masked.
#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    /// The policy tree.
    pub policies: PathBuf,
    /// Largest accepted hook body, in bytes.
    pub body_limit: usize,
    /// Evaluations that may run at once.
    pub max_concurrent: u32,
    /// Where compiled modules are cached by digest; `None` (printed `off`) for no cache.
    #[serde(serialize_with = "cache_dir_text")]
    pub cache_dir: Option<PathBuf>,
    /// The hook listener.
    pub hooks: ListenerConfig,
    /// The admin listener.
    pub admin: AdminConfig,
    /// The WebSocket event service, when configured.
    #[serde(rename = "webSocketEvents")]
    pub web_socket_events: Option<EventsConfig>,
    /// Where `send-data` messages go, when configured.
    pub send_data: Option<SendDataConfig>,
    /// Log output.
    pub log: LogConfig,
    /// The decision log.
    pub decision_log: DecisionLogConfig,
    /// Milliseconds in-flight hooks get to finish after SIGTERM.
    pub shutdown_grace_ms: u64,
    /// Milliseconds a client gets to send request headers.
    pub header_read_timeout_ms: u64,
    /// Limits for tenants whose manifest does not set them.
    pub limits: Limits,
    /// What tenant folders may name and read (its `limits` are [`ServerConfig::limits`]).
    pub tenants: TenantBounds,
    /// State and events shared through Redis.
    #[serde(serialize_with = "masked")]
    pub cluster: Option<ClusterSettings>,
    /// Authentication every hook must pass.
    pub auth: Option<HookAuthSettings>,
    /// Serve hooks on an address other than loopback without `[auth]`.
    pub allow_unauthenticated_hooks: bool,
    /// OpenTelemetry traces of hooks (`[tracing]`); `None`: off.
    pub tracing: Option<TracingConfig>,
    /// The config file these came from, for messages (`None`: flags and defaults only).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// A listener's address and connection bounds.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerConfig {
    /// `host:port`.
    pub listen: String,
    /// Milliseconds a connection may stay idle.
    pub idle_timeout_ms: u64,
    /// Connections open at once.
    pub max_connections: usize,
}

/// `[admin]`: the admin listener, off unless `listen` is set.
#[derive(Debug, Clone, Serialize)]
pub struct AdminConfig {
    /// `host:port`, or `None` for no admin listener.
    pub listen: Option<String>,
    /// Milliseconds a connection may stay idle.
    pub idle_timeout_ms: u64,
    /// Connections open at once.
    pub max_connections: usize,
    /// File whose first line is the bearer token.
    pub token_file: Option<PathBuf>,
    /// Host names answered besides `localhost` and loopback addresses.
    pub allowed_hosts: Vec<String>,
}

/// Log output.
#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A filter such as `info` or `hookgate=debug`.
    pub level: String,
}

/// `[decision_log]`.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionLogConfig {
    /// Where the lines go.
    #[serde(serialize_with = "target_text")]
    pub target: DecisionTarget,
}

/// A value of the configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigIssue {
    /// The file cannot be read, parsed, or breaks a rule.
    #[error(transparent)]
    File(#[from] ConfigError),
    /// A value (of the file, a variable or a flag) is out of range or malformed.
    #[error("{source_name}: {key}: {reason}")]
    Invalid {
        /// The config file, or `flags and defaults`.
        source_name: String,
        /// The key's path, e.g. `hooks.idle_timeout_ms` or `webSocketEvents`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl ServerConfig {
    /// Reads `file` (if any), applies `overrides`, fills in the defaults and checks every section.
    pub fn resolve(file: Option<&Path>, overrides: &Overrides) -> Result<ServerConfig, ConfigIssue> {
        let settings = match file {
            Some(path) => hookgate_config::load_server_file(path)?,
            None => ServerFile::default(),
        };
        let source_name = file.map_or_else(|| "flags and defaults".to_owned(), |path| path.display().to_string());
        let invalid = |key: &str, reason: String| ConfigIssue::Invalid {
            source_name: source_name.clone(),
            key: key.to_owned(),
            reason,
        };
        let dir = file.and_then(Path::parent).unwrap_or(Path::new(""));
        let web_socket_events = match settings.web_socket_events {
            Some(table) => {
                let mut events: EventsConfig =
                    from_table(table).map_err(|(key, reason)| invalid(&section("webSocketEvents", &key), reason))?;
                events.resolve_relative_to(dir);
                Some(events)
            }
            None => None,
        };
        let web_socket_events = match (&overrides.events_listen, web_socket_events) {
            (None, events) => events,
            (Some(_), None) => {
                return Err(invalid(
                    "webSocketEvents",
                    "--events-listen needs a [webSocketEvents] table in the config file (issuer, keys, users)".into(),
                ));
            }
            (Some(address), Some(events)) => {
                let (host, port) = address
                    .rsplit_once(':')
                    .ok_or_else(|| invalid("webSocketEvents", "--events-listen must be host:port".into()))?;
                let port = port
                    .parse()
                    .map_err(|err| invalid("webSocketEvents.port", format!("--events-listen port: {err}")))?;
                Some(EventsConfig { address: host.to_owned(), port, ..events })
            }
        };
        let send_data = match settings.send_data {
            Some(table) => {
                let mut send_data: SendDataConfig =
                    from_table(table).map_err(|(key, reason)| invalid(&section("send_data", &key), reason))?;
                send_data.resolve_relative_to(dir);
                send_data.check().map_err(|err| invalid("send_data", err.to_string()))?;
                Some(send_data)
            }
            None => None,
        };
        let traces = match settings.tracing {
            Some(table) => {
                let mut traces: TracingConfig =
                    from_table(table).map_err(|(key, reason)| invalid(&section("tracing", &key), reason))?;
                traces.check().map_err(|(key, reason)| invalid(&section("tracing", key), reason))?;
                Some(traces)
            }
            None => None,
        };
        let log = LogConfig {
            format: overrides.log_format.clone().or(settings.log.format).unwrap_or_else(|| "text".into()),
            level: settings.log.level.unwrap_or_else(|| "info".into()),
        };
        if !matches!(log.format.as_str(), "text" | "json") {
            return Err(invalid("log.format", format!("must be text or json, got {:?}", log.format)));
        }
        let target = match overrides.decision_log.clone().or(settings.decision_log.target).as_deref() {
            None | Some("off") => DecisionTarget::Off,
            Some("stdout") => DecisionTarget::Stdout,
            Some("") => return Err(invalid("decision_log.target", "must be off, stdout or a file".into())),
            Some(path) => DecisionTarget::File(PathBuf::from(path)),
        };
        let idle_ms = DEFAULT_IDLE_TIMEOUT.as_millis() as u64;
        let hooks = ListenerConfig {
            listen: overrides.listen.clone().or(settings.hooks.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            idle_timeout_ms: settings.hooks.idle_timeout_ms.unwrap_or(idle_ms),
            max_connections: settings.hooks.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        };
        let admin = AdminConfig {
            listen: overrides.admin_listen.clone().or(settings.admin.listen),
            idle_timeout_ms: settings.admin.idle_timeout_ms.unwrap_or(idle_ms),
            max_connections: settings.admin.max_connections.unwrap_or(DEFAULT_ADMIN_MAX_CONNECTIONS),
            token_file: settings.admin.token_file,
            allowed_hosts: settings.admin.allowed_hosts.unwrap_or_default(),
        };
        for (name, listener) in [
            ("hooks", (hooks.idle_timeout_ms, hooks.max_connections)),
            ("admin", (admin.idle_timeout_ms, admin.max_connections)),
        ] {
            if listener.0 == 0 {
                return Err(invalid(&format!("{name}.idle_timeout_ms"), "must be at least 1".into()));
            }
            if listener.1 == 0 {
                return Err(invalid(&format!("{name}.max_connections"), "must be at least 1".into()));
            }
        }
        let header_read_timeout_ms = overrides
            .header_read_timeout_ms
            .or(settings.header_read_timeout_ms)
            .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64);
        if header_read_timeout_ms == 0 {
            return Err(invalid("header_read_timeout_ms", "must be at least 1".into()));
        }
        let body_limit = overrides.body_limit.or(settings.body_limit).unwrap_or(DEFAULT_BODY_LIMIT);
        if body_limit == 0 {
            return Err(invalid("body_limit", "must be at least 1".into()));
        }
        let max_concurrent = settings.max_concurrent.unwrap_or(RuntimeConfig::default().max_concurrent);
        if max_concurrent == 0 {
            return Err(invalid("max_concurrent", "must be at least 1".into()));
        }
        let cache_dir = overrides.cache_dir.clone().or(settings.cache_dir).or_else(RuntimeConfig::default_cache_dir);
        let cluster = match (settings.cluster, &overrides.redis_url) {
            (cluster, None) => cluster,
            (cluster, Some(url)) => {
                Some(ClusterSettings { redis_url: Some(url.clone()), ..cluster.unwrap_or_default() })
            }
        };
        if let Some(url) = cluster.as_ref().and_then(|cluster| cluster.redis_url.as_deref()) {
            url::Url::parse(url)
                .map_err(|_| invalid("cluster.redis_url", "is not a URL (redis://host:port/db)".into()))?;
        }
        Ok(ServerConfig {
            policies: overrides.policies.clone().or(settings.policies).unwrap_or_else(|| PathBuf::from("policies")),
            body_limit,
            max_concurrent,
            cache_dir: cache_dir.filter(|dir| dir.as_os_str() != CACHE_OFF),
            hooks,
            admin,
            web_socket_events,
            send_data,
            log,
            decision_log: DecisionLogConfig { target },
            shutdown_grace_ms: overrides
                .shutdown_grace_ms
                .or(settings.shutdown_grace_ms)
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE.as_millis() as u64),
            header_read_timeout_ms,
            limits: settings.limits.unwrap_or_default(),
            tenants: settings.tenants.unwrap_or_default(),
            cluster,
            auth: settings.auth,
            allow_unauthenticated_hooks: settings.allow_unauthenticated_hooks.unwrap_or(false),
            tracing: traces,
            source: file.map(Path::to_owned),
        })
    }

    /// The operator's bounds of tenant folders, with the default limits.
    pub fn tenant_bounds(&self) -> TenantBounds {
        TenantBounds { limits: self.limits, ..self.tenants.clone() }
    }

    /// The wasm engine's settings.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            max_concurrent: self.max_concurrent,
            cache_dir: self.cache_dir.clone(),
            ..RuntimeConfig::default()
        }
    }

    /// Time in-flight hooks get to finish after the shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// The dotted path of `key` inside the table `name`.
fn section(name: &str, key: &str) -> String {
    if key.is_empty() { name.to_owned() } else { format!("{name}.{key}") }
}

fn cache_dir_text<S: Serializer>(dir: &Option<PathBuf>, out: S) -> Result<S::Ok, S::Error> {
    match dir {
        Some(dir) => dir.serialize(out),
        None => out.serialize_str(CACHE_OFF),
    }
}

fn target_text<S: Serializer>(target: &DecisionTarget, out: S) -> Result<S::Ok, S::Error> {
    match target {
        DecisionTarget::Off => out.serialize_str("off"),
        DecisionTarget::Stdout => out.serialize_str("stdout"),
        DecisionTarget::File(path) => path.serialize(out),
    }
}

fn masked<S: Serializer>(cluster: &Option<ClusterSettings>, out: S) -> Result<S::Ok, S::Error> {
    cluster.as_ref().map(ClusterSettings::masked).serialize(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why `text`, as hookgate.toml, is refused.
    fn refused(text: &str) -> String {
        refused_with(text, &Overrides::default())
    }

    fn refused_with(text: &str, overrides: &Overrides) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookgate.toml");
        std::fs::write(&file, text).unwrap();
        let message = ServerConfig::resolve(Some(&file), overrides).unwrap_err().to_string();
        let prefix = format!("{}: ", file.display());
        message.strip_prefix(&prefix).unwrap_or_else(|| panic!("{message:?} does not name the file")).to_owned()
    }

    const EVENTS: &str =
        "[webSocketEvents]\nissuer = \"i\"\nusers = \"users.toml\"\nkeys = [{ algorithm = \"HS256\", file = \"k\" }]\n";

    #[test]
    fn defaults_fill_every_value_and_relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookgate.toml");
        let text = format!(
            "policies = \"tree\"\n[send_data]\nurl = \"http://wcs:8081\"\nbasic_user = \"u\"\nbasic_password_file = \"p\"\n{EVENTS}"
        );
        std::fs::write(&file, text).unwrap();
        let config = ServerConfig::resolve(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(config.policies, dir.path().join("tree"));
        assert_eq!(config.hooks.listen, DEFAULT_LISTEN);
        assert_eq!(config.body_limit, DEFAULT_BODY_LIMIT);
        assert_eq!(config.shutdown_grace(), DEFAULT_SHUTDOWN_GRACE);
        assert_eq!(config.admin.max_connections, DEFAULT_ADMIN_MAX_CONNECTIONS);
        assert_eq!(config.decision_log.target, DecisionTarget::Off);
        assert_eq!(config.send_data.unwrap().basic_password_file, Some(dir.path().join("p")));
        let events = config.web_socket_events.unwrap();
        assert_eq!((events.users, events.keys[0].file.clone()), (dir.path().join("users.toml"), dir.path().join("k")));

        let overrides = Overrides { events_listen: Some("127.0.0.1:9999".into()), ..Overrides::default() };
        let config = ServerConfig::resolve(Some(&file), &overrides).unwrap();
        assert_eq!(config.web_socket_events.unwrap().socket_address(), "127.0.0.1:9999");
        let printed = toml::to_string(&ServerConfig::resolve(None, &Overrides::default()).unwrap()).unwrap();
        assert!(printed.contains("target = \"off\""), "{printed}");
    }

    #[test]
    fn tracing_is_off_by_default_and_its_table_gets_defaults() {
        assert_eq!(ServerConfig::resolve(None, &Overrides::default()).unwrap().tracing, None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookgate.toml");
        std::fs::write(&file, "[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\n").unwrap();
        let traces = ServerConfig::resolve(Some(&file), &Overrides::default()).unwrap().tracing.unwrap();
        assert_eq!(
            traces,
            TracingConfig {
                otlp_endpoint: "http://127.0.0.1:4318/v1/traces".into(),
                sample_ratio: 1.0,
                service_name: "hookgate".into(),
                max_queue_size: 2048,
                export_timeout_ms: 10_000,
            }
        );
    }

    #[test]
    fn each_section_refuses_a_bad_value_and_an_unknown_key_by_its_path() {
        let cases: &[(&str, &str)] = &[
            ("bogus = 1\n", "bogus: unknown field `bogus`"),
            ("body_limit = 0\n", "body_limit: must be at least 1"),
            ("max_concurrent = 0\n", "max_concurrent: must be at least 1"),
            ("header_read_timeout_ms = 0\n", "header_read_timeout_ms: must be at least 1"),
            ("shutdown_grace_ms = \"soon\"\n", "shutdown_grace_ms: invalid type: string \"soon\", expected u64"),
            ("[hooks]\nidle_timeout_ms = 0\n", "hooks.idle_timeout_ms: must be at least 1"),
            ("[hooks]\nport = 1\n", "hooks.port: unknown field `port`"),
            ("[admin]\nmax_connections = 0\n", "admin.max_connections: must be at least 1"),
            (
                "[admin]\nallowed_hosts = \"a\"\n",
                "admin.allowed_hosts: invalid type: string \"a\", expected a sequence",
            ),
            ("[log]\nformat = \"xml\"\n", "log.format: must be text or json, got \"xml\""),
            ("[log]\ncolour = true\n", "log.colour: unknown field `colour`"),
            ("[decision_log]\ntarget = \"\"\n", "decision_log.target: must be off, stdout or a file"),
            ("[limits]\ntimeout_ms = 0\n", "limits.timeout_ms: must be between 1 and 60000, got 0"),
            ("[limits]\ntimeout = 5\n", "limits.timeout: unknown field `timeout`"),
            (
                "[tenants]\nmax_module_mb = \"big\"\n",
                "tenants.max_module_mb: invalid type: string \"big\", expected u64",
            ),
            ("[cluster]\nredis_url = \"not a url\"\n", "cluster.redis_url: is not a URL (redis://host:port/db)"),
            ("[cluster]\nchanel = \"x\"\n", "cluster.chanel: unknown field `chanel`"),
            ("[auth]\nhmac_key = \"x\"\n", "auth.hmac_key: unknown field `hmac_key`"),
            ("[send_data]\nulr = \"http://wcs\"\n", "send_data.ulr: unknown field `ulr`"),
            (
                "[send_data]\nbasic_user = \"u\"\n",
                "send_data: give both basic_user and basic_password_file, or neither",
            ),
            ("[send_data.outbox]\nmax_attempts = 0\n", "send_data: send_data.max_attempts = 0 is out of range 1..="),
            ("[send_data.outbox]\nretries = 1\n", "send_data.outbox.retries: unknown field `retries`"),
            ("[webSocketEvents]\nissuer = \"i\"\n", "webSocketEvents: missing field `keys`"),
            ("[webSocketEvents]\nport = 70000\n", "webSocketEvents.port: invalid value: integer `70000`, expected u16"),
            ("[tracing]\nsample_ratio = 0.5\n", "tracing: missing field `otlp_endpoint`"),
            ("[tracing]\notlp_endpoint = \"collector:4318\"\n", "tracing.otlp_endpoint: must be an http:// URL"),
            ("[tracing]\notlp_endpoint = \"nowhere\"\n", "tracing.otlp_endpoint: is not a URL"),
            (
                "[tracing]\notlp_endpoint = \"http://c:4318\"\nsample_ratio = 1.5\n",
                "tracing.sample_ratio: must be between 0 and 1, got 1.5",
            ),
            (
                "[tracing]\notlp_endpoint = \"http://c:4318\"\nservice_name = \" \"\n",
                "tracing.service_name: must not be empty",
            ),
            (
                "[tracing]\notlp_endpoint = \"http://c:4318\"\nmax_queue_size = 0\n",
                "tracing.max_queue_size: must be at least 1",
            ),
            ("[tracing]\notlp_endpoint = \"http://c:4318\"\nratio = 1\n", "tracing.ratio: unknown field `ratio`"),
            (
                "[webSocketEvents.limits]\nmax_conections = 1\n",
                "webSocketEvents.limits.max_conections: unknown field `max_conections`",
            ),
        ];
        for (text, expected) in cases {
            let message = refused(text);
            assert!(message.starts_with(expected), "{text:?}: {message:?}, expected {expected:?}");
        }
        let overrides = Overrides { events_listen: Some("127.0.0.1:1".into()), ..Overrides::default() };
        assert_eq!(
            refused_with("", &overrides),
            "webSocketEvents: --events-listen needs a [webSocketEvents] table in the config file (issuer, keys, users)"
        );
        let overrides = Overrides { events_listen: Some("nowhere".into()), ..Overrides::default() };
        assert_eq!(refused_with(EVENTS, &overrides), "webSocketEvents: --events-listen must be host:port");
    }
}
