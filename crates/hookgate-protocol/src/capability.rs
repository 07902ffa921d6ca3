//! The host capabilities a manifest may grant a policy (`log` every policy has), the effects
//! they queue, and the interface that carries those out.
//!
//! `state` is a call the guest awaits ([`StateBackend`], in `hookgate-state`). `notify` and
//! `send-data` queue an [`Effect`] that is carried out once WCS has its answer, by the
//! [`EffectSink`]s the server was built with: the event service publishes notifications (and
//! every answered hook's own event), the outbox delivers messages.
//!
//! [`StateBackend`]: https://docs.rs/hookgate-state

use std::fmt;

/// A host capability, named as its WIT interface (`hookgate:policy/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `state`: keys kept across hooks, scoped to the tenant and the WCS session.
    State,
    /// `notify`: events for the tenant's WebSocket subscribers.
    Notify,
    /// `send-data`: messages to a WCS client through WCS's REST API.
    SendData,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 3] = [Capability::State, Capability::Notify, Capability::SendData];

    /// The name in manifests and WIT.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::State => "state",
            Capability::Notify => "notify",
            Capability::SendData => "send-data",
        }
    }

    /// The capability named `name`, if any.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|capability| capability.as_str() == name)
    }

    /// The capability a component import belongs to (`hookgate:policy/state@0.1.0` →
    /// `State`); `None` for imports every policy may have.
    pub fn of_import(import: &str) -> Option<Capability> {
        let interface = import.strip_prefix("hookgate:policy/")?;
        Capability::from_name(interface.split('@').next().unwrap_or(interface))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An effect a policy queued, carried out once the hook is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An event for the tenant's WebSocket subscribers (`notify`); `data` is JSON.
    Notify {
        /// Event type.
        event_type: String,
        /// Object id.
        id: String,
        /// JSON data.
        data: String,
    },
    /// A message to a WCS client through WCS's REST API (`send-data`); `payload` is JSON.
    SendData {
        /// The WCS session to deliver to.
        session_id: String,
        /// JSON payload.
        payload: String,
    },
}

impl Effect {
    /// The capability that queues this effect.
    pub fn capability(&self) -> Capability {
        match self {
            Effect::Notify { .. } => Capability::Notify,
            Effect::SendData { .. } => Capability::SendData,
        }
    }
}

/// Where an answered hook's effects come from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The tenant that decided.
    pub tenant: &'a str,
    /// The hook's `appKey`: whose subscribers see its events.
    pub app_key: &'a str,
    /// The hook's `nodeId`: the WCS node whose REST API delivers `send-data`.
    pub node_id: &'a str,
}

/// Carries out what answered hooks set off. Implementations queue and never wait: they run
/// on the hook's path, after its answer is decided.
pub trait EffectSink: Send + Sync {
    /// The answered hook itself (`method`, `body` as received), for subscribers of its event.
    fn hook(&self, _origin: &Origin<'_>, _method: &str, _body: &str) {}

    /// An effect a policy queued; a sink ignores the effects that are not its own.
    fn effect(&self, _origin: &Origin<'_>, _effect: &Effect) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_imports_map_to_capabilities() {
        for capability in Capability::ALL {
            assert_eq!(Capability::from_name(capability.as_str()), Some(capability));
        }
        assert_eq!(Capability::of_import("hookgate:policy/send-data@0.1.0"), Some(Capability::SendData));
        assert_eq!(Capability::of_import("hookgate:policy/log@0.1.0"), None);
        assert_eq!(Capability::of_import("wasi:io/streams@0.2.0"), None);
        assert_eq!(Capability::from_name("State"), None);
    }
}
