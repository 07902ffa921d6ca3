//! The shipped `stream-guard` chain of `publishStream` / `playStream` (tenant `defaultApp`),
//! compiled natively: the same work hookgate must do, without a policy engine.
//!
//! Settings are those of `policies/defaultApp/tenant.toml`: `deny = ["forbidden_*"]`,
//! `normalize = "lowercase"`, status 403, `overwrite = ["name"]`.

use serde_json::{Map, Value};

/// The policy name reported in deny bodies.
const POLICY: &str = "stream-guard";
/// The one deny pattern of the shipped tenant, `forbidden_*`, as the prefix it amounts to.
const FORBIDDEN_PREFIX: &str = "forbidden_";
/// The deny status of the shipped tenant.
const DENY_STATUS: u16 = 403;
/// Methods whose chain is `stream-guard`; every other method has an empty chain (allow).
const GUARDED_METHODS: [&str; 2] = ["publishStream", "playStream"];

/// The body of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// The received bytes, untouched.
    Echo,
    /// A new JSON document.
    Json(Vec<u8>),
}

/// The answer to one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// HTTP status.
    pub(crate) status: u16,
    /// Response body.
    pub(crate) body: Body,
}

impl Decision {
    /// The response body bytes, given the received `body`.
    pub(crate) fn body_bytes<'a>(&'a self, received: &'a [u8]) -> &'a [u8] {
        match &self.body {
            Body::Echo => received,
            Body::Json(bytes) => bytes,
        }
    }
}

/// Whether `method` runs the `stream-guard` chain.
pub(crate) fn is_guarded(method: &str) -> bool {
    GUARDED_METHODS.contains(&method)
}

/// Whether a `Content-Type` value is `application/json` (parameters such as `charset` allowed).
pub(crate) fn is_json_content_type(value: &[u8]) -> bool {
    let text = String::from_utf8_lossy(value);
    text.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
}

/// Decides one hook of `method` with `body`: validates the JSON object, requires `appKey`,
/// and applies the stream-guard rule on `name` for guarded methods.
pub(crate) fn decide(method: &str, body: &[u8]) -> Decision {
    let hook = match envelope(body) {
        Ok(hook) => hook,
        Err(refusal) => return refusal,
    };
    if !is_guarded(method) {
        return Decision { status: 200, body: Body::Echo };
    }
    let Some(Value::String(name)) = hook.get("name") else {
        return Decision { status: 200, body: Body::Echo };
    };
    let lower = name.chars().any(char::is_uppercase).then(|| name.to_lowercase());
    if is_forbidden(name) || lower.as_deref().is_some_and(is_forbidden) {
        return deny(DENY_STATUS, &format!("stream name '{name}' is forbidden"));
    }
    match lower {
        Some(lower) if lower != *name => renamed(hook, lower),
        _ => Decision { status: 200, body: Body::Echo },
    }
}

/// The hook as a JSON object with a string `appKey`, or the 400 that refuses it: what every
/// server checks before any rule runs.
pub(crate) fn envelope(body: &[u8]) -> Result<Map<String, Value>, Decision> {
    let hook: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(hook) => hook,
        Err(err) => return Err(error(400, &format!("body must be a JSON object: {err}"), None)),
    };
    if !matches!(hook.get("appKey"), Some(Value::String(_))) {
        return Err(error(400, "body has no appKey", None));
    }
    Ok(hook)
}

/// The rule's refusal: `status` with `{"error": reason, "policy": "stream-guard"}`.
pub(crate) fn deny(status: u16, reason: &str) -> Decision {
    error(status, reason, Some(POLICY))
}

/// The rule's override: the hook with its `name` replaced, keys in their received order.
pub(crate) fn renamed(mut hook: Map<String, Value>, name: String) -> Decision {
    hook.insert("name".into(), Value::String(name));
    match serde_json::to_vec(&hook) {
        Ok(bytes) => Decision { status: 200, body: Body::Json(bytes) },
        Err(err) => error(500, &format!("cannot serialise the answer: {err}"), None),
    }
}

/// Whether `name` matches the deny pattern `forbidden_*`.
fn is_forbidden(name: &str) -> bool {
    name.starts_with(FORBIDDEN_PREFIX)
}

/// `{"error": reason, "policy": policy}` with `status`.
pub(crate) fn error(status: u16, reason: &str, policy: Option<&str>) -> Decision {
    let mut body = Map::new();
    body.insert("error".into(), Value::String(reason.to_owned()));
    if let Some(policy) = policy {
        body.insert("policy".into(), Value::String(policy.to_owned()));
    }
    Decision { status, body: Body::Json(Value::Object(body).to_string().into_bytes()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOK: &str = r#"{ "appKey": "defaultApp", "name": "b4e7", "published": true }"#;

    fn json(decision: &Decision) -> String {
        match &decision.body {
            Body::Json(bytes) => String::from_utf8(bytes.clone()).expect("utf-8"),
            Body::Echo => panic!("expected a JSON body, got echo"),
        }
    }

    #[test]
    fn allows_lower_case_names_with_the_received_bytes() {
        assert_eq!(decide("publishStream", HOOK.as_bytes()), Decision { status: 200, body: Body::Echo });
    }

    #[test]
    fn denies_forbidden_names_also_by_case() {
        let hook = HOOK.replace("b4e7", "forbidden_cam");
        let decision = decide("publishStream", hook.as_bytes());
        assert_eq!(decision.status, 403);
        assert_eq!(json(&decision), r#"{"error":"stream name 'forbidden_cam' is forbidden","policy":"stream-guard"}"#);
        let hook = HOOK.replace("b4e7", "FORBIDDEN_cam");
        assert_eq!(decide("playStream", hook.as_bytes()).status, 403);
    }

    #[test]
    fn lowercases_mixed_case_names_in_place() {
        let hook = HOOK.replace("b4e7", "B4E7-Cam");
        let decision = decide("publishStream", hook.as_bytes());
        assert_eq!(decision.status, 200);
        assert_eq!(json(&decision), r#"{"appKey":"defaultApp","name":"b4e7-cam","published":true}"#);
    }

    #[test]
    fn leaves_other_methods_alone() {
        let hook = HOOK.replace("b4e7", "forbidden_cam");
        assert_eq!(decide("connect", hook.as_bytes()), Decision { status: 200, body: Body::Echo });
    }

    #[test]
    fn refuses_malformed_hooks() {
        assert_eq!(decide("publishStream", b"[1]").status, 400);
        assert_eq!(decide("publishStream", b"{").status, 400);
        assert_eq!(decide("publishStream", br#"{"name":"x"}"#).status, 400);
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(b"application/json"));
        assert!(is_json_content_type(b"Application/JSON; charset=utf-8"));
        assert!(!is_json_content_type(b"text/plain"));
    }
}
