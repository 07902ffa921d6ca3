//! `hookgate.toml`: process settings. Every value may also come from a flag or a
//! `HOOKGATE_*` variable, which win over the file.

use crate::ConfigError;
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
    /// The hook listener.
    #[serde(default)]
    pub hooks: Listener,
    /// The admin listener (health).
    #[serde(default)]
    pub admin: Listener,
    /// The WebSocket event service (`address`, `port`, `issuer`, `keys`, `users`, `limits`),
    /// spelled as WCS spells it; read by `hookgate_events::EventsConfig`.
    #[serde(rename = "webSocketEvents")]
    pub web_socket_events: Option<toml::Table>,
    /// Where `send-data` messages go (`url`, `nodes`, `basic_user`, `basic_password_file`,
    /// `outbox`); read by `hookgate_server::SendDataConfig`.
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

/// Reads `hookgate.toml`; relative paths in it are relative to the file's folder.
pub fn load_server_file(path: &Path) -> Result<ServerFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let mut file: ServerFile = toml::from_str(&text)
        .map_err(|err| ConfigError::Syntax { path: path.to_owned(), message: err.to_string().trim_end().to_owned() })?;
    if let Some(limits) = &file.limits {
        limits.check().map_err(|(key, reason)| ConfigError::Invalid { path: path.to_owned(), key, reason })?;
    }
    if let (Some(policies), Some(dir)) = (&file.policies, path.parent())
        && policies.is_relative()
    {
        file.policies = Some(dir.join(policies));
    }
    Ok(file)
}
