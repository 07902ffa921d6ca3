//! One hook request as the server handles it: the URL path cut to its last segment (the
//! method), the `Authorization` header and the body, through `TenantSet::decide` (envelope
//! parse, method classification, tenant routing by `appKey`, WCS authentication, the method's
//! rule and, on an allowed `connect`, the `restClientConfig` splice into the received bytes).
//!
//! Input: `<path> LF <authorization> LF <body>` (an empty authorization line is no header;
//! non-UTF-8 paths are skipped: axum hands the handler a `String`). The tenants have empty
//! chains, so no policy module (and no wasm) is involved: `defaultApp` without authentication,
//! `hmacApp` (HMAC-MD5) and `basicApp` (HTTP Basic), with `pendingApp` pending and no `_default`.
//!
//! Checks: a refusal (400) names the body's real fault; an accepted body is a JSON object
//! whose `sessionId` is reported; the kind and catalogue name are the method's; each appKey
//! reaches its tenant (or the pending/no-tenant fallback, where only events are echoed), which
//! refuses exactly the bodies that do not fit their method (400, an event echoed); a refusal
//! body is a JSON error; an allowed answer keeps every received field, and an allowed
//! `connect` carries the received or the tenant's `restClientConfig` unless it is
//! REST-API-initiated. It found two engine bugs, now fixed and kept as regression seeds in its
//! corpus: a skimmed-only body that panicked the override path, and envelope faults (`appKey`
//! twice, or not a string) misnamed "not valid JSON". The seed `connect-with-a-stream-field`
//! is the input that showed this target did not yet know the method-fit refusal.

#![no_main]

use hookgate_config::{AuthConfig, BasicAuth, Secret, TenantBounds, TenantManifest, parse_tenant};
use hookgate_engine::{BadHook, Body, Cause, Decision, HookRequest, Refusal, Services, Tenant, TenantSet};
use hookgate_protocol::{Method, MethodKind};
use hookgate_runtime::EvalLimits;
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

/// The shipped `defaultApp` manifest's methods, with empty chains, and a REST-API matcher on a
/// client-set field (which the operator must trust explicitly: `trusted_client_fields`).
const MANIFEST: &str = r#"
version = 1

[[rest_api_initiated]]
field = "custom.initiator"
equals = "rest-api"

[methods.connect]
on_error = "FAIL"

[methods.publishStream]
on_error = "FAIL"
overwrite = ["name"]

[methods.sendDTMF]
on_error = "FAIL"

[methods.StreamStatusEvent]

[methods."*"]
"#;

const AUTHENTICATED: [&str; 3] = ["defaultApp", "hmacApp", "basicApp"];
const PENDING: &str = "pendingApp";

/// A tenant as `build_tenant` makes it, minus policy modules.
fn tenant(name: &str, auth: AuthConfig) -> Tenant {
    let bounds = TenantBounds { trusted_client_fields: vec!["custom.initiator".into()], ..TenantBounds::default() };
    let mut manifest: TenantManifest =
        parse_tenant(MANIFEST, Path::new("."), Path::new("tenant.toml"), &bounds).expect("manifest");
    manifest.auth = auth;
    Tenant::assemble(name, manifest, HashMap::new(), EvalLimits::default())
}

static TENANTS: LazyLock<TenantSet> = LazyLock::new(|| {
    let hmac = AuthConfig { hmac_key: Some(Secret::new(b"hook-key".to_vec())), basic: None };
    let basic = AuthConfig {
        hmac_key: None,
        basic: Some(BasicAuth { user: "wcs".into(), password: Secret::new(b"secret".to_vec()) }),
    };
    TenantSet::new([tenant("defaultApp", AuthConfig::default()), tenant("hmacApp", hmac), tenant("basicApp", basic)])
        .with_pending(PENDING)
});

static SERVICES: LazyLock<Services> = LazyLock::new(Services::in_process);

/// Runs `decide` to completion: with empty chains nothing in it waits.
fn decide(request: HookRequest<'_>) -> Result<Decision, BadHook> {
    let mut future = std::pin::pin!(TENANTS.decide(request, &SERVICES));
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("decide waited although no policy runs"),
    }
}

/// Whether serde_json's skimming pass (the one that skips a value) accepts `body`. The
/// envelope parse reads `appKey` and `sessionId` and only skims the rest, so it accepts bodies a
/// full parse refuses (a number out of `f64` range, a lone surrogate escape); where hookgate
/// needs the full document (an override, the `connect` splice) such a body is answered 400.
fn skims(body: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(body).is_ok()
}

/// Whether `received` does not fit its method, the engine's checks restated (docs/security/hook-auth.md):
/// a stream's fields (`mediaSessionId`, or `name` and `published`; `null` is absent) in `connect`
/// or a `ConnectionStatusEvent`, a `ConnectionStatusEvent` without a `sessionId`, or a
/// `publishStream`/`playStream` whose `status` ends a stream.
fn misfit(received: &Map<String, Value>, catalogued: Option<&str>) -> bool {
    let present = |key: &str| received.get(key).is_some_and(|value| !value.is_null());
    let text = |key: &str| received.get(key).and_then(Value::as_str);
    let stream = present("mediaSessionId") || (present("name") && present("published"));
    match catalogued {
        Some("connect") => stream,
        Some("ConnectionStatusEvent") => stream || text("sessionId").unwrap_or_default().is_empty(),
        Some("publishStream" | "playStream") => matches!(text("status"), Some("FAILED" | "UNPUBLISHED" | "STOPPED")),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |byte| *byte == b'\n');
    let Ok(path) = std::str::from_utf8(lines.next().unwrap_or_default()) else { return };
    let authorization = lines.next().filter(|value| !value.is_empty());
    let body = lines.next().unwrap_or_default();
    // The server answers a path whose last segment is empty itself (no method).
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        return;
    }

    let result = decide(HookRequest { method: name, body, authorization, received_ms: 0 });
    let decision = match result {
        Err(BadHook::NotUtf8(at)) => {
            let err = std::str::from_utf8(body).expect_err("UTF-8 body refused as not UTF-8");
            assert_eq!(err.valid_up_to(), at);
            return;
        }
        Err(BadHook::NotObject) => {
            assert!(skims(body), "NotObject body is not JSON");
            let object = serde_json::from_slice::<Value>(body).is_ok_and(|value| value.is_object());
            assert!(!object, "an object body was refused as not an object");
            return;
        }
        Err(BadHook::NotJson(message)) => {
            assert!(serde_json::from_slice::<Value>(body).is_err(), "JSON body refused as not JSON: {message}");
            return;
        }
        Err(BadHook::BadEnvelope(message)) => {
            // JSON to the skimming pass, an object (a full parse may still refuse another field).
            let object = skims(body) && body.trim_ascii_start().starts_with(b"{");
            assert!(object, "a body refused for its envelope is not a JSON object: {message}");
            return;
        }
        Ok(decision) => decision,
    };
    let Ok(received) = serde_json::from_slice::<Map<String, Value>>(body) else {
        assert!(skims(body), "an accepted body is not JSON");
        // Never a rewritten answer built from a body that cannot be read as a document.
        assert!(matches!(decision.body, Body::Echo) || decision.status != 200, "unreadable body rewritten");
        return;
    };
    let text = |key: &str| received.get(key).and_then(Value::as_str).unwrap_or_default();
    assert_eq!(decision.session_id, text("sessionId"));
    let method = Method::classify(name);
    assert_eq!((decision.kind, decision.canonical), (method.kind, method.catalogued));

    let app_key = text("appKey");
    if AUTHENTICATED.contains(&app_key) {
        assert_eq!((decision.tenant.as_str(), decision.generation), (app_key, 1));
        let expected_scheme: &[u8] = match app_key {
            "hmacApp" => b"WCS ",
            "basicApp" => b"Basic ",
            _ => b"",
        };
        let authorized = authorization.unwrap_or_default().starts_with(expected_scheme);
        let misfit = misfit(&received, method.catalogued);
        match decision.refusal {
            Some(Refusal::Unauthenticated) => {
                // No credentials of the tenant's scheme: 401; credentials of it that do not match: 403.
                let expected = if authorized { 403 } else { 401 };
                assert!(!expected_scheme.is_empty(), "{app_key} answered {} without [auth]", decision.status);
                assert_eq!(decision.status, expected, "{app_key} answered {}", decision.status);
            }
            // Checked after authentication: an event is echoed, anything else answered 400.
            Some(Refusal::Mismatch) => {
                assert!(authorized && misfit, "{app_key} refused a body that fits {name}");
                let expected = if method.kind == MethodKind::Event { 200 } else { 400 };
                assert_eq!(decision.status, expected, "{app_key} answered a misfit {}", decision.status);
            }
            refusal => {
                assert!(authorized, "{app_key} let a hook in");
                assert!(!misfit, "{app_key} decided a body that does not fit {name}");
                assert_eq!((refusal, decision.status), (None, 200), "{app_key} refused an empty chain's hook");
            }
        }
    } else {
        let cause = if app_key == PENDING { Cause::NotLoaded } else { Cause::NoTenant };
        assert_eq!((decision.tenant.as_str(), decision.fallback), ("", Some(cause)));
        let expected = if method.kind == MethodKind::Event { 200 } else { 403 };
        assert_eq!(decision.status, expected);
    }

    match &decision.body {
        Body::Json(bytes) if decision.status != 200 => {
            let error: Map<String, Value> = serde_json::from_slice(bytes).expect("an error body is a JSON object");
            assert!(error.get("error").is_some_and(Value::is_string), "error body without an error");
        }
        Body::Json(bytes) => {
            assert_eq!(decision.kind, MethodKind::Connect, "only connect answers are rewritten without a policy");
            let answer: Map<String, Value> = serde_json::from_slice(bytes).expect("an allowed answer is a JSON object");
            for (key, value) in &received {
                assert_eq!(answer.get(key), Some(value), "received field {key} changed");
            }
            let config = match received.get("restClientConfig") {
                Some(config) => config.clone(),
                None => serde_json::from_str(&TENANTS.get(app_key).expect("tenant").rest_client_config).unwrap(),
            };
            assert_eq!(answer.get("restClientConfig"), Some(&config));
            assert_eq!(answer.len(), received.len() + usize::from(!received.contains_key("restClientConfig")));
        }
        Body::Echo => {
            assert_eq!(decision.status, 200, "a refusal echoed the body");
            let rest_api = received.get("custom").and_then(|custom| custom.get("initiator"))
                == Some(&Value::String("rest-api".into()));
            assert!(
                decision.kind != MethodKind::Connect || decision.tenant.is_empty() || rest_api,
                "an allowed connect was echoed without restClientConfig"
            );
        }
    }
});
