//! `[send_data]` of `hookgate.toml` ([`SendDataConfig`]) and the capability's sender
//! ([`DataSender`]): which WCS node a message goes to, with which credentials, through an
//! [`Outbox`].

use crate::{DataMessage, Outbox, OutboxConfig, StartError, Target};
use hookgate_config::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[send_data]` of `hookgate.toml`: where `send-data` messages go.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SendDataConfig {
    /// REST API base URL of the WCS nodes not listed in `nodes` (e.g. `http://wcs:8081`).
    pub url: Option<String>,
    /// REST API base URL by WCS `nodeId` (the `nodeId` of the hook that queued the message).
    #[serde(default)]
    pub nodes: BTreeMap<String, String>,
    /// HTTP Basic user of the REST API, if it asks for one.
    pub basic_user: Option<String>,
    /// File holding that user's password, relative to the config file's folder.
    pub basic_password_file: Option<PathBuf>,
    /// Queue, timeout and retries.
    #[serde(default)]
    pub outbox: OutboxConfig,
}

/// Why `[send_data]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SendDataError {
    /// `basic_user` without `basic_password_file`, or the reverse.
    #[error("give both basic_user and basic_password_file, or neither")]
    HalfBasic,
    /// The password file cannot be read.
    #[error("send_data.basic_password_file {}", path.display())]
    Password {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An `[send_data.outbox]` value is out of range, or the outbox cannot start.
    #[error(transparent)]
    Outbox(#[from] StartError),
}

impl SendDataConfig {
    /// Makes a relative `basic_password_file` relative to `dir` (the config file's folder).
    pub fn resolve_relative_to(&mut self, dir: &Path) {
        if let Some(file) = self.basic_password_file.as_mut().filter(|file| file.is_relative()) {
            *file = dir.join(&*file);
        }
    }

    /// Checks what can be checked without starting anything: the Basic pair and the outbox's ranges.
    pub fn check(&self) -> Result<(), SendDataError> {
        if self.basic_user.is_some() != self.basic_password_file.is_some() {
            return Err(SendDataError::HalfBasic);
        }
        self.outbox.validate()?;
        Ok(())
    }
}

/// Sends `send-data` messages.
pub struct DataSender {
    outbox: Outbox,
    config: SendDataConfig,
    basic: Option<(String, Secret)>,
}

impl DataSender {
    /// Reads the password file and starts the outbox of `config`; call inside a tokio runtime.
    pub fn start(config: SendDataConfig) -> Result<DataSender, SendDataError> {
        config.check()?;
        let basic = match (&config.basic_user, &config.basic_password_file) {
            (Some(user), Some(file)) => {
                let password =
                    std::fs::read(file).map_err(|source| SendDataError::Password { path: file.clone(), source })?;
                let password = password.strip_suffix(b"\n").unwrap_or(&password).to_vec();
                Some((user.clone(), Secret::new(password)))
            }
            _ => None,
        };
        let outbox = Outbox::start(config.outbox.clone())?;
        Ok(DataSender { outbox, config, basic })
    }

    /// The outbox's counters.
    pub fn stats(&self) -> crate::OutboxStats {
        self.outbox.stats()
    }

    /// Queues a message of `tenant`'s policy for the REST API of WCS node `node_id`; never
    /// waits. A message without a URL for its node, or refused by the outbox, is logged and dropped.
    pub fn send(&self, tenant: &str, node_id: &str, session_id: String, payload: serde_json::Value) {
        let Some(base_url) = self.config.nodes.get(node_id).or(self.config.url.as_ref()) else {
            tracing::warn!(%tenant, node = node_id, session = %session_id,
                "send-data message dropped: no REST API URL for this node ([send_data] url or nodes)");
            return;
        };
        let target = Target { base_url: base_url.clone(), basic: self.basic.clone() };
        let operation_id = uuid::Uuid::new_v4().to_string();
        let message = DataMessage { node_id: node_id.to_owned(), session_id, operation_id, payload };
        if let Err(refused) = self.outbox.enqueue(target, message) {
            tracing::warn!(%tenant, node = node_id, "send-data message refused: {refused}");
        }
    }
}

impl hookgate_protocol::EffectSink for DataSender {
    /// Queues a `send-data` message for the REST API of the hook's WCS node.
    fn effect(&self, origin: &hookgate_protocol::Origin<'_>, effect: &hookgate_protocol::Effect) {
        let hookgate_protocol::Effect::SendData { session_id, payload } = effect else { return };
        // The runtime checked that `payload` is JSON.
        let payload = serde_json::from_str(payload).unwrap_or(serde_json::Value::Null);
        self.send(origin.tenant, origin.node_id, session_id.clone(), payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_checked_and_its_password_file_resolved() {
        let mut config: SendDataConfig =
            toml::from_str("url = \"http://wcs:8081\"\nbasic_user = \"u\"\nbasic_password_file = \"p\"\n").unwrap();
        config.resolve_relative_to(Path::new("/etc/hookgate"));
        assert_eq!(config.basic_password_file.as_deref(), Some(Path::new("/etc/hookgate/p")));
        config.check().unwrap();
        config.basic_password_file = None;
        assert_eq!(config.check().unwrap_err().to_string(), "give both basic_user and basic_password_file, or neither");
        let typo = toml::from_str::<SendDataConfig>("ulr = \"http://wcs\"\n").unwrap_err();
        assert!(typo.to_string().contains("unknown field `ulr`"), "{typo}");
        let zero: SendDataConfig = toml::from_str("[outbox]\ntimeout_ms = 0\n").unwrap();
        assert!(zero.check().unwrap_err().to_string().starts_with("send_data.timeout_ms = 0 is out of range 1..="));
    }
}
