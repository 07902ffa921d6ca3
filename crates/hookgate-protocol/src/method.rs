//! WCS hook methods as received: [`Method::classify`] names a hook's method by the catalogue
//! of `hookgate-methods` (re-exported here), the one table the host and the guest SDK share.

pub use hookgate_methods::{CATALOGUE, Catalogued, MethodKind, lookup, suggest};

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
    fn kinds_come_from_the_catalogue() {
        for method in CATALOGUE {
            for name in std::iter::once(&method.name).chain(method.aliases) {
                assert_eq!(Method::classify(name).kind, method.kind, "{name}");
            }
        }
    }

    #[test]
    fn unknown_methods_are_events_and_case_matters() {
        let method = Method::classify("publishstream");
        assert!(!method.known());
        assert_eq!(method.kind, MethodKind::Event);
        assert_eq!(method.canonical, "publishstream");
    }
}
