//! The stream-guard rule in Rego (`peers/stream_guard.rego`), evaluated by the `regorus` crate:
//! the policy-engine peer of `hookgate-bench run`.
//!
//! The policy is compiled once at start (`Engine::compile_with_entrypoint`) into a
//! `CompiledPolicy`, which the `arc` feature makes `Send + Sync`: every worker thread shares it,
//! and each request calls `CompiledPolicy::eval_with_input` with the hook as input, which builds
//! a light per-evaluation engine around the shared compiled policy. That is regorus's documented
//! way to evaluate one policy many times with different inputs (its bindings document the
//! compiled policy as safe to evaluate from many threads at once): nothing is parsed or compiled
//! per request, and no evaluation sees another's input.

use crate::native::{self, Body, Decision};
use anyhow::{Context, Result};
use regorus::{CompiledPolicy, PolicyModule, Value};

/// The Rego source.
const SOURCE: &str = include_str!("../peers/stream_guard.rego");
/// The rule whose value is the decision.
const ENTRYPOINT: &str = "data.streamguard.decision";

/// Parses and compiles the policy.
pub(crate) fn compile() -> Result<CompiledPolicy> {
    let module = PolicyModule { id: "stream_guard.rego".into(), content: SOURCE.into() };
    regorus::compile_policy_with_entrypoint(Value::new_object(), &[module], ENTRYPOINT.into())
        .context("cannot compile peers/stream_guard.rego")
}

/// Decides one hook of `method` with `body` through `policy`. The envelope (a JSON object with
/// a string `appKey`) is checked on regorus's own parse of the body, the one the policy reads;
/// a hook that fails it gets the native rule's 400, worded the same.
pub(crate) fn decide(policy: &CompiledPolicy, method: &str, body: &[u8]) -> Decision {
    let input = std::str::from_utf8(body).ok().and_then(|text| Value::from_json_str(text).ok());
    let Some(input) = input.filter(|hook| matches!(hook["appKey"], Value::String(_))) else {
        return native::decide(method, body);
    };
    if !native::is_guarded(method) {
        return Decision { status: 200, body: Body::Echo };
    }
    match policy.eval_with_input(input) {
        Ok(decision) => answer(&decision, body),
        Err(err) => native::error(500, &format!("policy failed: {err}"), None),
    }
}

/// The answer to `decision`, the value of the policy's `decision` rule for the hook `body`.
fn answer(decision: &Value, body: &[u8]) -> Decision {
    if let Value::String(reason) = &decision["deny"] {
        let status = decision["status"].as_u16().unwrap_or(500);
        return native::deny(status, reason);
    }
    if let Value::String(name) = &decision["name"] {
        return match native::envelope(body) {
            Ok(hook) => native::renamed(hook, name.to_string()),
            Err(refusal) => refusal,
        };
    }
    Decision { status: 200, body: Body::Echo }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOK: &str = r#"{ "appKey": "defaultApp", "name": "b4e7", "published": true }"#;

    /// Every case the native rule's tests cover gets the same decision from the Rego policy.
    #[test]
    fn decides_as_the_native_rule() {
        let policy = compile().expect("compiles");
        let names = ["b4e7", "forbidden_cam", "FORBIDDEN_cam", "B4E7-Cam", "ÄB\\\"C", "forbidden_", "Forbidden_x"];
        let mut hooks: Vec<String> = names.iter().map(|name| HOOK.replace("b4e7", name)).collect();
        hooks.extend([
            r#"{"appKey":"defaultApp"}"#.into(),
            r#"{"appKey":"defaultApp","name":7}"#.into(),
            r#"{"appKey":7,"name":"x"}"#.into(),
            r#"{"name":"x"}"#.into(),
            "[1]".into(),
            "{".into(),
        ]);
        for method in ["publishStream", "playStream", "connect"] {
            for hook in &hooks {
                assert_eq!(
                    decide(&policy, method, hook.as_bytes()),
                    native::decide(method, hook.as_bytes()),
                    "{method} {hook}"
                );
            }
        }
    }

    #[test]
    fn denies_and_renames_through_the_policy() {
        let policy = compile().expect("compiles");
        assert_eq!(decide(&policy, "publishStream", HOOK.replace("b4e7", "FORBIDDEN_x").as_bytes()).status, 403);
        let renamed = decide(&policy, "publishStream", HOOK.replace("b4e7", "Cam").as_bytes());
        assert_eq!(renamed.body, Body::Json(br#"{"appKey":"defaultApp","name":"cam","published":true}"#.to_vec()));
    }
}
