//! `hookgate.toml`: process settings. Every value may also come from a flag or a
//! `HOOKGATE_*` variable, which win over the file.

use crate::ConfigError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The contents of `hookgate.toml`; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// The policy tree.
    pub policies: Option<PathBuf>,
    /// Largest accepted hook body, in bytes.
    pub body_limit: Option<usize>,
    /// Evaluations that may run at once.
    pub max_concurrent: Option<u32>,
    /// Where compiled modules are cached by digest, so restarts and reloads do not compile
    /// again; `off` for no cache.
    pub cache_dir: Option<PathBuf>,
    /// The hook listener.
    #[serde(default)]
    pub hooks: Listener,
    /// The admin listener (health, metrics, policy status, reload).
    #[serde(default)]
    pub admin: AdminListener,
    /// The WebSocket event service (`address`, `port`, `issuer`, `keys`, `users`, `limits`),
    /// spelled as WCS spells it; read by `hookgate_events::EventsConfig`.
    #[serde(rename = "webSocketEvents")]
    pub web_socket_events: Option<toml::Table>,
    /// Where `send-data` messages go (`url`, `nodes`, `basic_user`, `basic_password_file`,
    /// `outbox`); read by `hookgate_outbox::SendDataConfig`.
    pub send_data: Option<toml::Table>,
    /// Logging.
    #[serde(default)]
    pub log: LogSettings,
    /// The decision log.
    #[serde(default)]
    pub decision_log: DecisionLogSettings,
    /// How long in-flight hooks may take to finish after SIGTERM, in milliseconds.
    pub shutdown_grace_ms: Option<u64>,
    /// Time a client gets to send request headers, in milliseconds (slow-loris protection).
    pub header_read_timeout_ms: Option<u64>,
    /// Limits for tenants whose manifest does not set them.
    pub limits: Option<crate::Limits>,
    /// What tenant folders may name and read (`[tenants]`).
    pub tenants: Option<crate::TenantBounds>,
    /// State and events shared with other hookgate instances through Redis.
    pub cluster: Option<ClusterSettings>,
    /// Authentication every hook must pass, whatever its appKey, before it is routed; a
    /// tenant's own `[auth]` is checked in addition.
    pub auth: Option<HookAuthSettings>,
    /// Serve hooks on an address other than loopback without `[auth]` (refused otherwise).
    pub allow_unauthenticated_hooks: Option<bool>,
    /// OpenTelemetry traces of hooks over OTLP (`otlp_endpoint`, `sample_ratio`,
    /// `service_name`, `max_queue_size`, `export_timeout_ms`); read by
    /// `hookgate_server::TracingConfig`. Off without the table.
    pub tracing: Option<toml::Table>,
}

/// Largest hook-authentication secret file read (`[auth]` key and password files).
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// `[auth]` of `hookgate.toml`: how WCS authenticates every hook to this process, with the keys
/// of a tenant's `[auth]`. Operator files: read once at start, regular files of at most 64 KiB.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HookAuthSettings {
    /// File holding WCS's `rest_hook_secret_key` (first line): hooks must carry
    /// `Authorization: WCS <hex HMAC-MD5(body)>`.
    pub hmac_key_file: Option<PathBuf>,
    /// HTTP Basic user of the WCS app's `restUsername`.
    pub basic_user: Option<String>,
    /// File holding the HTTP Basic password (first line).
    pub basic_password_file: Option<PathBuf>,
}

impl HookAuthSettings {
    /// Reads the secrets: exactly one of the HMAC key or HTTP Basic must be configured.
    /// `config` is the `hookgate.toml` the settings came from, for messages.
    pub fn resolve(&self, config: &Path) -> Result<crate::AuthConfig, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: config.to_owned(),
            key: format!("auth.{key}"),
            reason,
        };
        let secret = |key: &str, file: &Path| -> Result<crate::Secret, ConfigError> {
            let text = read_bounded(file).map_err(|reason| invalid(key, reason))?;
            let first = text.lines().next().unwrap_or_default().trim_end_matches('\r');
            if first.is_empty() {
                return Err(invalid(key, format!("{}: the secret is empty", file.display())));
            }
            Ok(crate::Secret::new(first.as_bytes().to_vec()))
        };
        let hmac_key = self.hmac_key_file.as_deref().map(|file| secret("hmac_key_file", file)).transpose()?;
        let basic = match (&self.basic_user, &self.basic_password_file) {
            (Some(user), Some(file)) if !user.is_empty() && !user.contains(':') => {
                Some(crate::BasicAuth { user: user.clone(), password: secret("basic_password_file", file)? })
            }
            (Some(_), Some(_)) => return Err(invalid("basic_user", "must be non-empty and contain no ':'".into())),
            (Some(_), None) => return Err(invalid("basic_user", "needs basic_password_file".into())),
            (None, Some(_)) => return Err(invalid("basic_password_file", "needs basic_user".into())),
            (None, None) => None,
        };
        match (&hmac_key, &basic) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                path: config.to_owned(),
                key: "auth".into(),
                reason: "WCS sends both in the Authorization header; configure either hmac_key_file or HTTP Basic"
                    .into(),
            }),
            (None, None) => Err(ConfigError::Invalid {
                path: config.to_owned(),
                key: "auth".into(),
                reason: "give hmac_key_file, or basic_user and basic_password_file".into(),
            }),
            _ => Ok(crate::AuthConfig { hmac_key, basic }),
        }
    }
}

/// The text of a regular file of at most [`MAX_SECRET_BYTES`]; `Err` says why not.
fn read_bounded(file: &Path) -> Result<String, String> {
    let bytes = crate::files::read_operator_file(file, MAX_SECRET_BYTES, "the cap of hookgate.toml's secret files")
        .map_err(|err| err.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", file.display()))
}

/// `[cluster]`: several hookgate instances sharing the `state` capability and the event bus
/// through one Redis. Absent, or without `redis_url`, each process keeps its own (in-process).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `redis://[user@]host[:port][/db]`. Give the password in `redis_password_file`, not here,
    /// so that it stays out of the config file (a password here is accepted and masked in
    /// `--print-config`).
    pub redis_url: Option<String>,
    /// File holding the Redis password (first line), relative to the config file's folder.
    pub redis_password_file: Option<PathBuf>,
    /// PEM file of the CA (or CAs) that signed a `rediss://` server's certificate, relative to
    /// the config file's folder; without it the system's roots are trusted.
    pub tls_ca_file: Option<PathBuf>,
    /// The pub/sub channel of the event bus; instances sharing it share their events.
    pub channel: Option<String>,
    /// Longest a `state` call waits for Redis, in milliseconds.
    pub call_timeout_ms: Option<u64>,
}

impl ClusterSettings {
    /// These settings with the password of `redis_url`, if any, replaced by `***` (see
    /// [`crate::redact_url`]).
    pub fn masked(&self) -> ClusterSettings {
        let redis_url = self.redis_url.as_deref().map(crate::redact_url);
        ClusterSettings { redis_url, ..self.clone() }
    }
}

/// Where the decision log goes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DecisionLogSettings {
    /// `off`, `stdout`, or a file path to append to.
    pub target: Option<String>,
}

/// A listener given as one `host:port` address.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `host:port`.
    pub listen: Option<String>,
    /// Milliseconds a connection may go without a byte in either direction while none of its
    /// requests is being answered; then it is closed.
    pub idle_timeout_ms: Option<u64>,
    /// Connections open at once; past it a new connection is answered 503 and closed.
    pub max_connections: Option<usize>,
}

/// `[admin]`: the admin listener, off unless `listen` is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminListener {
    /// `host:port`; a non-loopback address needs `token_file`.
    pub listen: Option<String>,
    /// As for the hook listener.
    pub idle_timeout_ms: Option<u64>,
    /// As for the hook listener.
    pub max_connections: Option<usize>,
    /// File whose first line is the bearer token every admin route but `/healthz` requires,
    /// relative to the config file's folder.
    pub token_file: Option<PathBuf>,
    /// Host names the admin listener answers to besides `localhost` and loopback addresses
    /// (the `Host` header, without its port).
    pub allowed_hosts: Option<Vec<String>>,
}

/// Log output.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: Option<String>,
    /// A filter such as `info` or `hookgate=debug`.
    pub level: Option<String>,
}

/// Reads `table` (the whole file, or one of its sections) as a `T`; `Err` is the dotted path of
/// the key at fault below `table` (empty for `table` itself), e.g. `hooks.port` for an unknown
/// key, and what is wrong with it.
pub fn from_table<T: DeserializeOwned>(table: toml::Table) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
        let key = err.path().to_string();
        let key = if key == "." { String::new() } else { key };
        // The message alone: its key is given apart, not repeated as `in ...`.
        let reason = err.inner().message().lines().next().unwrap_or_default().to_owned();
        (key, reason)
    })
}

/// Reads `hookgate.toml`; relative paths in it are relative to the file's folder.
pub fn load_server_file(path: &Path) -> Result<ServerFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|err| ConfigError::Syntax { path: path.to_owned(), message: err.to_string().trim_end().to_owned() })?;
    let mut file: ServerFile =
        from_table(table).map_err(|(key, reason)| ConfigError::Invalid { path: path.to_owned(), key, reason })?;
    if let Some(limits) = &file.limits {
        limits.check().map_err(|(key, reason)| ConfigError::Invalid { path: path.to_owned(), key, reason })?;
    }
    if let Some(tenants) = &file.tenants {
        tenants.check().map_err(|(key, reason)| ConfigError::Invalid { path: path.to_owned(), key, reason })?;
    }
    if let Some(dir) = path.parent() {
        let relative_to_dir = |file: &mut Option<PathBuf>| {
            if let Some(relative) = file.as_ref().filter(|file| file.is_relative()) {
                *file = Some(dir.join(relative));
            }
        };
        relative_to_dir(&mut file.policies);
        if let Some(tenants) = &mut file.tenants {
            relative_to_dir(&mut tenants.secrets_dir);
        }
        relative_to_dir(&mut file.admin.token_file);
        if file.cache_dir.as_deref() != Some(Path::new("off")) {
            relative_to_dir(&mut file.cache_dir);
        }
        if let Some(auth) = &mut file.auth {
            relative_to_dir(&mut auth.hmac_key_file);
            relative_to_dir(&mut auth.basic_password_file);
        }
        if let Some(cluster) = &mut file.cluster {
            relative_to_dir(&mut cluster.redis_password_file);
            relative_to_dir(&mut cluster.tls_ca_file);
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::{ClusterSettings, HookAuthSettings, ServerFile, from_table};
    use std::path::Path;

    #[test]
    fn hook_auth_reads_bounded_regular_files_and_refuses_half_configurations() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("wcs.key");
        std::fs::write(&key, "1234567890\nignored\n").unwrap();
        let config = Path::new("hookgate.toml");
        let hmac = HookAuthSettings { hmac_key_file: Some(key.clone()), ..Default::default() };
        assert_eq!(hmac.resolve(config).unwrap().hmac_key.unwrap().expose(), b"1234567890");
        let message = |settings: HookAuthSettings| settings.resolve(config).unwrap_err().to_string();
        assert_eq!(
            message(HookAuthSettings::default()),
            "hookgate.toml: auth: give hmac_key_file, or basic_user and basic_password_file"
        );
        assert_eq!(
            message(HookAuthSettings { basic_user: Some("wcs".into()), ..Default::default() }),
            "hookgate.toml: auth.basic_user: needs basic_password_file"
        );
        assert_eq!(
            message(HookAuthSettings { hmac_key_file: Some(dir.path().to_owned()), ..Default::default() }),
            format!("hookgate.toml: auth.hmac_key_file: '{}' is not a regular file", dir.path().display())
        );
        let big = dir.path().join("big.key");
        std::fs::write(&big, vec![b'k'; 64 * 1024 + 1]).unwrap();
        assert_eq!(
            message(HookAuthSettings { hmac_key_file: Some(big.clone()), ..Default::default() }),
            format!(
                "hookgate.toml: auth.hmac_key_file: '{}' is larger than 65536 bytes (the cap of hookgate.toml's secret files)",
                big.display()
            )
        );
        let both = HookAuthSettings {
            hmac_key_file: Some(key.clone()),
            basic_user: Some("wcs".into()),
            basic_password_file: Some(key),
        };
        assert!(message(both).starts_with("hookgate.toml: auth: WCS sends both"));
    }

    #[test]
    fn a_password_in_the_redis_url_is_masked() {
        let with = |url: &str| ClusterSettings { redis_url: Some(url.into()), ..ClusterSettings::default() };
        assert_eq!(with("redis://:hunter2@redis:6379/1").masked().redis_url.unwrap(), "redis://:***@redis:6379/1");
        assert_eq!(with("redis://app:hunter2@redis/").masked().redis_url.unwrap(), "redis://app:***@redis/");
        assert_eq!(with("redis://redis:6379").masked().redis_url.unwrap(), "redis://redis:6379");
        assert_eq!(
            with("redis://redis:6379?password=hunter2").masked().redis_url.unwrap(),
            "redis://redis:6379?password=***"
        );
        assert_eq!(with("hunter2").masked().redis_url.unwrap(), "<not a URL>");
    }

    #[test]
    fn a_key_at_fault_is_named_by_its_path() {
        let at_fault = |text: &str| from_table::<ServerFile>(toml::from_str(text).unwrap()).unwrap_err();
        let (key, reason) = at_fault("[hooks]\nlisten = \"x\"\nport = 1\n");
        assert_eq!(key, "hooks.port");
        assert!(reason.starts_with("unknown field `port`, expected one of"), "{reason}");
        assert_eq!(at_fault("bogus = 1\n").0, "bogus");
        let (key, reason) = at_fault("body_limit = -1\n");
        assert_eq!((key.as_str(), reason.as_str()), ("body_limit", "invalid value: integer `-1`, expected usize"));
        assert_eq!(at_fault("[limits]\ntimeout_ms = \"fast\"\n").0, "limits.timeout_ms");
    }
}
