//! What `hookgate-bench run` checks before it loads a server: that it answers the probes
//! exactly as the native stream-guard rule does.

use crate::native::{self, Decision};
use crate::probe::{self, Answer};
use anyhow::{Context, Result, ensure};
use serde_json::{Map, Value};
use std::net::SocketAddr;

/// Checks that the server at `addr` answers as stream-guard with settings
/// `{"deny": ["forbidden_*"]}` on `path`: it denies a forbidden name, lower-cases a mixed-case
/// one, and answers `payload` as the native rule does.
pub(crate) fn check_stream_guard(addr: SocketAddr, path: &str, method: &str, payload: &[u8]) -> Result<()> {
    let post = |body: &[u8]| probe::post_json(addr, path, body);
    let forbidden = with_string_name(payload, "forbidden_bench")?;
    let answer = post(&forbidden)?;
    let deny = r#"{"error":"stream name 'forbidden_bench' is forbidden","policy":"stream-guard"}"#;
    ensure!(
        answer.status == 403 && answer.body == deny.as_bytes(),
        "name 'forbidden_bench': expected 403 {deny}, got {} {}",
        answer.status,
        answer.body_text()
    );
    let mixed = with_string_name(payload, "Bench-MiXed")?;
    let answer = post(&mixed)?;
    let name = serde_json::from_slice::<Value>(&answer.body).ok().and_then(|v| v.get("name").cloned());
    ensure!(
        answer.status == 200 && name == Some(Value::from("bench-mixed")),
        "name 'Bench-MiXed': expected 200 with name 'bench-mixed', got {} {}",
        answer.status,
        answer.body_text()
    );
    expect(&answer, &native::decide(method, &mixed), &mixed, "the mixed-case probe")?;
    expect(&post(payload)?, &native::decide(method, payload), payload, "the payload")
}

/// Checks that the server at `addr` answers as the native rule does: [`check_stream_guard`],
/// then every [`EDGE_NAMES`] probe.
pub(crate) fn check_rule(addr: SocketAddr, path: &str, method: &str, payload: &[u8]) -> Result<()> {
    check_stream_guard(addr, path, method, payload)?;
    for name in EDGE_NAMES {
        let body = match name {
            Some(name) => with_name(payload, name)?,
            None => without_name(payload)?,
        };
        let answer = probe::post_json(addr, path, &body)?;
        expect(&answer, &native::decide(method, &body), &body, &format!("the probe with name {name:?}"))?;
    }
    Ok(())
}

/// Checks that the echo at `addr` answers `payload` with itself.
pub(crate) fn check_echo(addr: SocketAddr, path: &str, payload: &[u8]) -> Result<()> {
    let answer = probe::post_json(addr, path, payload)?;
    expect(&answer, &Decision { status: 200, body: native::Body::Echo }, payload, "the payload")
}

/// Names (as JSON values; `None`: no `name` field) whose answers every rule server must give
/// exactly as the native rule does, beyond [`check_stream_guard`]'s probes: a forbidden name in
/// capitals, a name that only matches once lowercased, a non-ASCII mixed-case name, a name with
/// a quote, one that is not a string, and none at all.
const EDGE_NAMES: [Option<&str>; 6] = [
    Some(r#""FORBIDDEN_BENCH""#),
    Some(r#""Forbidden_bench""#),
    Some(r#""ÄÖ-Bench""#),
    Some(r#""bench-\"quoted\"-Cam""#),
    Some("7"),
    None,
];

/// `payload` with its `name` set to the JSON value `name`.
fn with_name(payload: &[u8], name: &str) -> Result<Vec<u8>> {
    let value: Value = serde_json::from_str(name).with_context(|| format!("bad probe name {name}"))?;
    let mut hook: Map<String, Value> = serde_json::from_slice(payload).context("the payload is not a JSON object")?;
    hook.insert("name".into(), value);
    serde_json::to_vec(&hook).context("cannot serialise a probe")
}

/// `payload` without its `name`.
fn without_name(payload: &[u8]) -> Result<Vec<u8>> {
    let mut hook: Map<String, Value> = serde_json::from_slice(payload).context("the payload is not a JSON object")?;
    hook.shift_remove("name");
    serde_json::to_vec(&hook).context("cannot serialise a probe")
}

/// `payload` with its `name` set to the string `name`.
fn with_string_name(payload: &[u8], name: &str) -> Result<Vec<u8>> {
    with_name(payload, &Value::from(name).to_string())
}

/// Checks `answer` against the `expected` decision for `sent`: same status, a JSON content
/// type, the received bytes for an echo, the same JSON document otherwise.
fn expect(answer: &Answer, expected: &Decision, sent: &[u8], what: &str) -> Result<()> {
    let json_type = answer.content_type.as_deref().is_some_and(|t| native::is_json_content_type(t.as_bytes()));
    ensure!(json_type, "{what}: content-type {:?}, expected application/json", answer.content_type);
    ensure!(
        answer.status == expected.status,
        "{what}: expected status {}, got {} {}",
        expected.status,
        answer.status,
        answer.body_text()
    );
    let want = expected.body_bytes(sent);
    let same = match expected.body {
        native::Body::Echo => answer.body == want,
        native::Body::Json(_) => same_json(&answer.body, want),
    };
    ensure!(same, "{what}: expected body {}, got {}", String::from_utf8_lossy(want), answer.body_text());
    Ok(())
}

/// Whether two byte strings are the same JSON document (keys in the same order too).
fn same_json(a: &[u8], b: &[u8]) -> bool {
    let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).ok().map(|v| v.to_string());
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOK: &[u8] = br#"{"appKey":"defaultApp","name":"b4e7","published":true}"#;

    #[test]
    fn probes_change_only_the_name_in_place() {
        assert_eq!(with_name(HOOK, "7").expect("probe"), br#"{"appKey":"defaultApp","name":7,"published":true}"#);
        assert_eq!(
            with_string_name(HOOK, "A\"b").expect("probe"),
            br#"{"appKey":"defaultApp","name":"A\"b","published":true}"#
        );
        assert_eq!(without_name(HOOK).expect("probe"), br#"{"appKey":"defaultApp","published":true}"#);
        assert!(with_name(b"[1]", "7").is_err());
    }

    #[test]
    fn every_edge_probe_is_a_valid_hook() {
        for name in EDGE_NAMES {
            let body = match name {
                Some(name) => with_name(HOOK, name).expect("probe"),
                None => without_name(HOOK).expect("probe"),
            };
            assert_ne!(native::decide("publishStream", &body).status, 400, "{name:?}");
        }
    }

    #[test]
    fn same_json_compares_documents_with_their_key_order() {
        assert!(same_json(br#"{"a": 1, "b": [2]}"#, br#"{"a":1,"b":[2]}"#));
        assert!(!same_json(br#"{"a":1,"b":2}"#, br#"{"b":2,"a":1}"#));
        assert!(!same_json(b"{", b"{"));
    }
}
