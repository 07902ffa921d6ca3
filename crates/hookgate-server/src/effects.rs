//! What happens once a hook is answered: its event to WebSocket subscribers, the policies'
//! `notify` events, and their `send-data` messages to WCS's REST API.

use hookgate_engine::{Decision, Outgoing};
use hookgate_events::{EventHub, RedisBus};
use hookgate_outbox::DataSender;
use serde::Deserialize;

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

impl Effects {
    /// Carries out what `decision` asks for, after WCS has its answer: publishes the hook's
    /// event, the policies' notifications, and queues their messages. Never waits. A refused
    /// hook (unauthenticated, unrouted, or a body that does not fit its method) has none.
    pub(crate) fn after(&self, decision: &mut Decision, method: &str, body: &[u8]) {
        if decision.app_key.is_empty() || decision.refusal.is_some() {
            return;
        }
        if let Ok(text) = std::str::from_utf8(body) {
            self.hub.publish_hook(&decision.app_key, method, text);
        }
        if decision.outgoing.is_empty() {
            return;
        }
        let node_id = serde_json::from_slice::<NodeId>(body).map(|body| body.node_id).unwrap_or_default();
        for effect in std::mem::take(&mut decision.outgoing) {
            match effect {
                Outgoing::Notify { event_type, id, data } => {
                    // The runtime checked that `data` is JSON.
                    let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::Null);
                    self.hub.publish(&decision.app_key, &event_type, &id, data);
                }
                Outgoing::SendData { session_id, payload } => match &self.data {
                    Some(data) => {
                        let payload = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
                        data.send(&decision.tenant, &node_id, session_id, payload);
                    }
                    None => tracing::warn!(tenant = %decision.tenant, session = %session_id,
                        "send-data message dropped: [send_data] is not configured"),
                },
            }
        }
    }
}

#[derive(Deserialize)]
struct NodeId {
    #[serde(rename = "nodeId", default)]
    node_id: String,
}
