//! WCS hook methods and their kinds (docs/protocol/wcs-reference.md §2, "Four types of REST methods").

use std::fmt;

/// The four kinds of WCS REST methods. The kind decides what a denial or a failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// `connect`: authenticates the WebSocket session and always fails closed.
    Connect,
    /// A direct invocation the backend may veto (`publishStream`, `call`, …).
    Direct,
    /// An event that already happened: it is never denied.
    Event,
    /// An incoming invocation (`OnCallEvent`): a denial answers the caller 403.
    Incoming,
}

impl MethodKind {
    /// The lower-case name used in manifests, logs and metrics.
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

/// The catalogue: (canonical name, kind, other spellings WCS documents for it).
const CATALOGUE: &[(&str, MethodKind, &[&str])] = &[
    ("connect", MethodKind::Connect, &[]),
    // Direct invocations ([S2]: "may be interrupted by backend server", plus the
    // "not useful" ones and the methods of the client/REST match table [S9]).
    ("publishStream", MethodKind::Direct, &[]),
    ("playStream", MethodKind::Direct, &[]),
    ("unPublishStream", MethodKind::Direct, &[]),
    ("stopStream", MethodKind::Direct, &[]),
    ("pauseStream", MethodKind::Direct, &[]),
    ("snapshot", MethodKind::Direct, &[]),
    ("sendStreamEvent", MethodKind::Direct, &[]),
    ("call", MethodKind::Direct, &[]),
    ("answer", MethodKind::Direct, &[]),
    ("hangup", MethodKind::Direct, &[]),
    ("hold", MethodKind::Direct, &[]),
    ("unhold", MethodKind::Direct, &[]),
    ("transfer", MethodKind::Direct, &[]),
    ("sendDtmf", MethodKind::Direct, &["sendDTMF"]),
    ("sendMessage", MethodKind::Direct, &[]),
    ("sendIMDN", MethodKind::Direct, &[]),
    // Documented as both direct and incoming; a veto is meaningful ("data sent may be rejected").
    ("OnDataEvent", MethodKind::Direct, &[]),
    ("submitBugReport", MethodKind::Direct, &["sendBugReport"]),
    ("pushLogs", MethodKind::Direct, &[]),
    ("sessionDebug", MethodKind::Direct, &[]),
    ("subscribe", MethodKind::Direct, &[]),
    ("sendXcapRequest", MethodKind::Direct, &[]),
    ("playHLS", MethodKind::Direct, &[]),
    ("playRTSP", MethodKind::Direct, &[]),
    // Incoming invocations.
    ("OnCallEvent", MethodKind::Incoming, &[]),
    // Events: already happened, notification only.
    ("ConnectionStatusEvent", MethodKind::Event, &[]),
    ("RegistrationStatusEvent", MethodKind::Event, &[]),
    ("StreamStatusEvent", MethodKind::Event, &[]),
    ("StreamKeepAliveEvent", MethodKind::Event, &[]),
    ("StreamEvent", MethodKind::Event, &[]),
    ("CallStatusEvent", MethodKind::Event, &[]),
    ("TransferStatusEvent", MethodKind::Event, &[]),
    // Kind not documented; the old SDK raises it for a PENDING transfer. Treated as an event
    // (never denied) rather than inventing a veto WCS may not honour.
    ("OnTransferEvent", MethodKind::Event, &[]),
    ("OnMessageEvent", MethodKind::Event, &[]),
    ("MessageStatusEvent", MethodKind::Event, &[]),
    ("DataStatusEvent", MethodKind::Event, &[]),
    ("BugReportStatusEvent", MethodKind::Event, &[]),
    ("SessionDebugStatusEvent", MethodKind::Event, &[]),
    ("SubscriptionStatusEvent", MethodKind::Event, &[]),
    ("XcapStatusEvent", MethodKind::Event, &[]),
    ("ErrorEvent", MethodKind::Event, &["ErrorStatusEvent"]),
    ("RecordingStatusEvent", MethodKind::Event, &[]),
];

/// A hook method as received: its name, the canonical spelling and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method<'a> {
    /// The name exactly as it appeared in the URL.
    pub name: &'a str,
    /// The canonical spelling (`sendDTMF` → `sendDtmf`); the name itself for unknown methods.
    pub canonical: &'a str,
    /// The method's kind; unknown methods are treated as events (echoed, never denied).
    pub kind: MethodKind,
    /// The catalogue's spelling, when the method is in the documented catalogue.
    pub catalogued: Option<&'static str>,
}

impl<'a> Method<'a> {
    /// Whether the method is in the documented catalogue.
    pub fn known(&self) -> bool {
        self.catalogued.is_some()
    }

    /// Classifies a method name. Names are case-sensitive, as WCS sends them.
    pub fn classify(name: &'a str) -> Method<'a> {
        match lookup(name) {
            Some((canonical, kind)) => Method { name, canonical, kind, catalogued: Some(canonical) },
            None => Method { name, canonical: name, kind: MethodKind::Event, catalogued: None },
        }
    }
}

/// Looks a name up in the catalogue, alias spellings included.
pub fn lookup(name: &str) -> Option<(&'static str, MethodKind)> {
    CATALOGUE
        .iter()
        .find(|(canonical, _, aliases)| *canonical == name || aliases.contains(&name))
        .map(|(canonical, kind, _)| (*canonical, *kind))
}

/// A catalogue name equal to `name` ignoring ASCII case, to suggest a fix for a typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .flat_map(|(canonical, _, aliases)| std::iter::once(canonical).chain(aliases.iter()))
        .find(|candidate| candidate.eq_ignore_ascii_case(name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_their_canonical_spelling() {
        for (alias, canonical) in
            [("sendDTMF", "sendDtmf"), ("sendBugReport", "submitBugReport"), ("ErrorStatusEvent", "ErrorEvent")]
        {
            let method = Method::classify(alias);
            assert_eq!(method.canonical, canonical);
            assert_eq!(method.name, alias);
            assert!(method.known());
        }
    }

    #[test]
    fn kinds_follow_the_four_types() {
        assert_eq!(Method::classify("connect").kind, MethodKind::Connect);
        assert_eq!(Method::classify("publishStream").kind, MethodKind::Direct);
        assert_eq!(Method::classify("OnDataEvent").kind, MethodKind::Direct);
        assert_eq!(Method::classify("OnCallEvent").kind, MethodKind::Incoming);
        assert_eq!(Method::classify("StreamStatusEvent").kind, MethodKind::Event);
    }

    #[test]
    fn unknown_methods_are_events_and_case_matters() {
        let method = Method::classify("publishstream");
        assert!(!method.known());
        assert_eq!(method.kind, MethodKind::Event);
        assert_eq!(suggest("publishstream"), Some("publishStream"));
    }
}
