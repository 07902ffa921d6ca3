//! The host capabilities a manifest may grant a policy (`log` every policy has).

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
