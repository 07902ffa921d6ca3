//! Method routing: an arbitrary URL path, cut as the server cuts it (its last segment is the
//! method), through `Method::classify`, `method::lookup`, `method::suggest` and a tenant's
//! method rule resolution (`TenantManifest::rule`, as the engine calls it).
//!
//! Input: the path's bytes (non-UTF-8 inputs are skipped: axum hands the handler a `String`).
//! Checks: classification keeps the received name and agrees with `lookup`; canonical names are
//! fixed points; unknown methods are events; a suggestion is a catalogue name equal ignoring
//! ASCII case; the rule found is the method's own (aliases included) or else the `"*"` rule.

#![no_main]

use hookgate_config::{TenantBounds, TenantManifest, parse_tenant};
use hookgate_protocol::{Method, MethodKind, method};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::LazyLock;

/// Rules keyed by canonical names and by an alias (`sendDTMF`); the first has a `"*"` rule.
const MANIFESTS: [&str; 2] = [
    r#"
version = 1
[methods.connect]
on_error = "FAIL"
[methods.publishStream]
on_error = "FAIL"
overwrite = ["name"]
[methods.sendDTMF]
[methods.ErrorStatusEvent]
[methods."*"]
"#,
    r#"
version = 1
[methods.playStream]
overwrite = ["name", "custom"]
[methods.OnCallEvent]
on_error = "FAIL"
"#,
];

static TENANTS: LazyLock<Vec<TenantManifest>> = LazyLock::new(|| {
    MANIFESTS
        .iter()
        .map(|text| {
            parse_tenant(text, Path::new("."), Path::new("tenant.toml"), &TenantBounds::default()).expect("manifest")
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let name = path.rsplit('/').next().unwrap_or_default();

    let method = Method::classify(name);
    assert_eq!(method.name, name);
    match method::lookup(name) {
        Some((canonical, kind)) => {
            assert!(method.known());
            assert_eq!((method.canonical, method.kind, method.catalogued), (canonical, kind, Some(canonical)));
            assert_eq!(method::lookup(canonical), Some((canonical, kind)), "canonical name is not a fixed point");
            let suggested = method::suggest(name).expect("a catalogued name has a suggestion");
            assert!(suggested.eq_ignore_ascii_case(name));
        }
        None => {
            assert!(!method.known());
            assert_eq!((method.canonical, method.kind, method.catalogued), (name, MethodKind::Event, None));
        }
    }
    if let Some(suggested) = method::suggest(name) {
        assert!(suggested.eq_ignore_ascii_case(name), "suggested {suggested} for {name}");
        assert!(method::lookup(suggested).is_some(), "suggested {suggested} is not in the catalogue");
    }

    for manifest in TENANTS.iter() {
        let own = manifest.methods.iter().find(|rule| rule.canonical.as_deref() == Some(method.canonical));
        let catch_all = manifest.methods.iter().find(|rule| rule.canonical.is_none());
        match manifest.rule(method.canonical) {
            Some(rule) => match &rule.canonical {
                Some(canonical) => {
                    assert!(method.known(), "an unknown method {name} got the rule of {canonical}");
                    assert_eq!(canonical, method.canonical);
                    assert_eq!(rule.kind, Some(method.kind));
                }
                None => {
                    assert!(own.is_none(), "{name} got the \"*\" rule although it has its own");
                    assert_eq!(rule.method, "*");
                }
            },
            None => assert!(own.is_none() && catch_all.is_none(), "{name} got no rule"),
        }
    }
});
