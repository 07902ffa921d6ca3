//! What happens once a hook is answered: its event to WebSocket subscribers, the policies'
//! `notify` events, and their `send-data` messages to WCS's REST API.

use hookgate_events::{EventHub, RedisBus};
use hookgate_outbox::DataSender;
use hookgate_protocol::{Effect, EffectSink, Origin};

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
