//! The WCS hook method catalogue: every documented method, its alias spellings and its kind
//! (docs/protocol/wcs-reference.md §2, "Four types of REST methods").
//!
//! It exists once, here, for the host (`hookgate-protocol` classifies every hook with it) and
//! for the guest SDK (`hookgate-sdk`'s test hooks take their kind from it), so that a policy's
//! native tests see the kind the host gives it. No dependencies and `no_std`, so that every
//! guest target builds it.

#![cfg_attr(not(test), no_std)]

use core::fmt;

/// The four kinds of WCS REST methods. The kind decides what a denial or a failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize), serde(rename_all = "lowercase"))]
pub enum MethodKind {
    /// `connect`: authenticates the WebSocket session and always fails closed.
    Connect,
    /// A direct invocation the backend may veto (`publishStream`, `call`, …).
    Direct,
    /// An event that already happened (`StreamStatusEvent`, …): it is never denied.
    Event,
    /// An incoming invocation (`OnCallEvent`): a denial answers the caller 403.
    Incoming,
}

impl MethodKind {
    /// The kind the host gives a hook of method `name`: the catalogue's (aliases included,
    /// case-sensitive, as WCS sends names), or [`MethodKind::Event`] for a method not in it
    /// (an unknown method is echoed, never denied).
    pub fn of(name: &str) -> MethodKind {
        lookup(name).map_or(MethodKind::Event, |(_, kind)| kind)
    }

    /// The lower-case name used in manifests, logs, metrics and the WIT (`connect`, `direct`,
    /// `event`, `incoming`).
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Connect => "connect",
            MethodKind::Direct => "direct",
            MethodKind::Event => "event",
            MethodKind::Incoming => "incoming",
        }
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One catalogued method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Catalogued {
    /// The canonical spelling.
    pub name: &'static str,
    /// Its kind.
    pub kind: MethodKind,
    /// Other spellings WCS documents for it (`sendDTMF` for `sendDtmf`).
    pub aliases: &'static [&'static str],
}

/// A catalogue entry, briefly.
const fn method(name: &'static str, kind: MethodKind, aliases: &'static [&'static str]) -> Catalogued {
    Catalogued { name, kind, aliases }
}

/// The catalogue, in the order of the WCS reference.
pub const CATALOGUE: &[Catalogued] = &[
    method("connect", MethodKind::Connect, &[]),
    // Direct invocations ([S2]: "may be interrupted by backend server", plus the
    // "not useful" ones and the methods of the client/REST match table [S9]).
    method("publishStream", MethodKind::Direct, &[]),
    method("playStream", MethodKind::Direct, &[]),
    method("unPublishStream", MethodKind::Direct, &[]),
    method("stopStream", MethodKind::Direct, &[]),
    method("pauseStream", MethodKind::Direct, &[]),
    method("snapshot", MethodKind::Direct, &[]),
    method("sendStreamEvent", MethodKind::Direct, &[]),
    method("call", MethodKind::Direct, &[]),
    method("answer", MethodKind::Direct, &[]),
    method("hangup", MethodKind::Direct, &[]),
    method("hold", MethodKind::Direct, &[]),
    method("unhold", MethodKind::Direct, &[]),
    method("transfer", MethodKind::Direct, &[]),
    method("sendDtmf", MethodKind::Direct, &["sendDTMF"]),
    method("sendMessage", MethodKind::Direct, &[]),
    method("sendIMDN", MethodKind::Direct, &[]),
    // Documented as both direct and incoming; a veto is meaningful ("data sent may be rejected").
    method("OnDataEvent", MethodKind::Direct, &[]),
    method("submitBugReport", MethodKind::Direct, &["sendBugReport"]),
    method("pushLogs", MethodKind::Direct, &[]),
    method("sessionDebug", MethodKind::Direct, &[]),
    method("subscribe", MethodKind::Direct, &[]),
    method("sendXcapRequest", MethodKind::Direct, &[]),
    method("playHLS", MethodKind::Direct, &[]),
    method("playRTSP", MethodKind::Direct, &[]),
    // Incoming invocations.
    method("OnCallEvent", MethodKind::Incoming, &[]),
    // Events: already happened, notification only.
    method("ConnectionStatusEvent", MethodKind::Event, &[]),
    method("RegistrationStatusEvent", MethodKind::Event, &[]),
    method("StreamStatusEvent", MethodKind::Event, &[]),
    method("StreamKeepAliveEvent", MethodKind::Event, &[]),
    method("StreamEvent", MethodKind::Event, &[]),
    method("CallStatusEvent", MethodKind::Event, &[]),
    method("TransferStatusEvent", MethodKind::Event, &[]),
    // Kind not documented; the old SDK raises it for a PENDING transfer. Treated as an event
    // (never denied) rather than inventing a veto WCS may not honour.
    method("OnTransferEvent", MethodKind::Event, &[]),
    method("OnMessageEvent", MethodKind::Event, &[]),
    method("MessageStatusEvent", MethodKind::Event, &[]),
    method("DataStatusEvent", MethodKind::Event, &[]),
    method("BugReportStatusEvent", MethodKind::Event, &[]),
    method("SessionDebugStatusEvent", MethodKind::Event, &[]),
    method("SubscriptionStatusEvent", MethodKind::Event, &[]),
    method("XcapStatusEvent", MethodKind::Event, &[]),
    method("ErrorEvent", MethodKind::Event, &["ErrorStatusEvent"]),
    method("RecordingStatusEvent", MethodKind::Event, &[]),
];

/// Looks a name up in the catalogue, alias spellings included: its canonical spelling and kind.
pub fn lookup(name: &str) -> Option<(&'static str, MethodKind)> {
    CATALOGUE
        .iter()
        .find(|method| method.name == name || method.aliases.contains(&name))
        .map(|method| (method.name, method.kind))
}

/// A catalogue name equal to `name` ignoring ASCII case, to suggest a fix for a typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .flat_map(|method| core::iter::once(&method.name).chain(method.aliases.iter()))
        .find(|candidate| candidate.eq_ignore_ascii_case(name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_looks_up_its_method() {
        for method in CATALOGUE {
            for spelling in core::iter::once(&method.name).chain(method.aliases) {
                assert_eq!(lookup(spelling), Some((method.name, method.kind)), "{spelling}");
            }
        }
        assert_eq!(lookup("sendDTMF"), Some(("sendDtmf", MethodKind::Direct)));
        assert_eq!(lookup("ErrorStatusEvent"), Some(("ErrorEvent", MethodKind::Event)));
    }

    #[test]
    fn kinds_follow_the_four_types() {
        assert_eq!(MethodKind::of("connect"), MethodKind::Connect);
        assert_eq!(MethodKind::of("publishStream"), MethodKind::Direct);
        assert_eq!(MethodKind::of("OnDataEvent"), MethodKind::Direct);
        assert_eq!(MethodKind::of("OnCallEvent"), MethodKind::Incoming);
        assert_eq!(MethodKind::of("StreamStatusEvent"), MethodKind::Event);
        assert_eq!(MethodKind::Incoming.as_str(), "incoming");
    }

    #[test]
    fn unknown_methods_are_events_and_case_matters() {
        assert_eq!(lookup("publishstream"), None);
        assert_eq!(MethodKind::of("publishstream"), MethodKind::Event);
        assert_eq!(MethodKind::of("somethingNew"), MethodKind::Event);
        assert_eq!(suggest("publishstream"), Some("publishStream"));
        assert_eq!(suggest("senddtmf"), Some("sendDtmf"));
    }

    #[test]
    fn every_spelling_names_one_method() {
        let spellings = || CATALOGUE.iter().flat_map(|m| core::iter::once(&m.name).chain(m.aliases.iter()));
        for (i, a) in spellings().enumerate() {
            assert!(spellings().skip(i + 1).all(|b| a != b), "{a} is catalogued twice");
        }
    }
}
