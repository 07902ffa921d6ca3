//! What happens once a hook is answered: its event to WebSocket subscribers, the policies'
//! `notify` events, and their `send-data` messages to WCS's REST API.

use hookgate_config::Secret;
use hookgate_events::{EventHub, RedisBus};
use hookgate_outbox::{DataMessage, Outbox, OutboxConfig, Target};
use hookgate_protocol::{Effect, EffectSink, Origin};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[send_data]` of `hookgate.toml`: where `send-data` messages go.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SendDataConfig {
    /// REST API base URL of the WCS nodes not listed in `nodes` (e.g. `http://wcs:8081`).
    pub url: Option<String>,
    /// REST API base URL by WCS `nodeId` (the `nodeId` of the hook that queued the message).
    #[serde(default)]
    pub nodes: BTreeMap<String, String>,
    /// HTTP Basic user of the REST API, if it asks for one.
    pub basic_user: Option<String>,
    /// File holding that user's password.
    pub basic_password_file: Option<PathBuf>,
    /// Queue, timeout and retries.
    #[serde(default)]
    pub outbox: OutboxConfig,
}

/// Sends `send-data` messages.
pub struct DataSender {
    outbox: Outbox,
    config: SendDataConfig,
    basic: Option<(String, Secret)>,
}

impl DataSender {
    /// Starts the outbox of `config`; call inside a tokio runtime.
    pub fn start(config: SendDataConfig) -> anyhow::Result<DataSender> {
        let basic = match (&config.basic_user, &config.basic_password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read(file)
                    .map_err(|err| anyhow::anyhow!("send_data.basic_password_file {}: {err}", file.display()))?;
                let password = password.strip_suffix(b"\n").unwrap_or(&password).to_vec();
                Some((user.clone(), Secret::new(password)))
            }
            (None, None) => None,
            _ => anyhow::bail!("send_data: give both basic_user and basic_password_file, or neither"),
        };
        let outbox = Outbox::start(config.outbox.clone())?;
        Ok(DataSender { outbox, config, basic })
    }

    /// The outbox's counters.
    pub fn stats(&self) -> hookgate_outbox::OutboxStats {
        self.outbox.stats()
    }
}

impl EffectSink for DataSender {
    /// Queues a `send-data` message for the REST API of the hook's WCS node.
    fn effect(&self, origin: &Origin<'_>, effect: &Effect) {
        let Effect::SendData { session_id, payload } = effect else { return };
        // The runtime checked that `payload` is JSON.
        let payload = serde_json::from_str(payload).unwrap_or(serde_json::Value::Null);
        self.send(origin.tenant, origin.node_id, session_id.clone(), payload);
    }
}

impl DataSender {
    fn send(&self, tenant: &str, node_id: &str, session_id: String, payload: serde_json::Value) {
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

/// The after-answer effects of every hook.
pub struct Effects {
    /// Subscribers of the WebSocket event service.
    pub hub: EventHub,
    /// `send-data` delivery, when `[send_data]` is configured.
    pub data: Option<DataSender>,
    /// The Redis event bus of a fleet (`[cluster]`), attached to `hub`: events then reach
    /// the subscribers of every instance.
    pub bus: Option<RedisBus>,
}

impl EffectSink for Effects {
    fn hook(&self, origin: &Origin<'_>, method: &str, body: &str) {
        self.hub.hook(origin, method, body);
    }

    fn effect(&self, origin: &Origin<'_>, effect: &Effect) {
        match (effect, &self.data) {
            (Effect::Notify { .. }, _) => self.hub.effect(origin, effect),
            (Effect::SendData { .. }, Some(data)) => data.effect(origin, effect),
            (Effect::SendData { session_id, .. }, None) => tracing::warn!(tenant = %origin.tenant,
                session = ?hookgate_engine::bounded_text(session_id, 256),
                "send-data message dropped: [send_data] is not configured"),
        }
    }
}
