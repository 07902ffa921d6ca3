//! What WCS receives, as one pure function of what the chain said.
//!
//! [`answer`] is the README's Answers table: the method's kind, its `on_error`, whether the
//! hook is REST-API-initiated and what the chain said decide the answer's form; its unit
//! tests check the table cell by cell. Building the body (the merged document, the
//! `restClientConfig` of a `connect`) is the caller's, from that form.

use hookgate_protocol::fallback::{FallbackAnswer, fallback};
use hookgate_protocol::{MethodKind, OnError};
use serde_json::{Map, Value};

/// What the chain said, as far as the answer is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// Every policy allowed.
    Allow,
    /// Every policy allowed and at least one overrode fields.
    Override,
    /// A policy denied with this status.
    Deny(u16),
    /// A policy (or the tenant) failed.
    Failure,
}

/// The form of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with what the chain let through: the received bytes, or the merged body after an
    /// override, plus `restClientConfig` on `connect`.
    Pass,
    /// 200 with the received bytes, untouched: what the chain said is not obeyed (a denied
    /// event, a REST-API-initiated hook) or a failure is logged and let go.
    Echo,
    /// This status with `{"error", "policy"}`.
    Refuse(u16),
}

impl Answer {
    /// `pass`, `echo` or `refuse`: the `hookgate.answer` attribute of a hook's trace.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Pass => "pass",
            Answer::Echo => "echo",
            Answer::Refuse(_) => "refuse",
        }
    }
}

/// The answer for a hook of `kind` whose method has `on_error`, when the chain `said` so.
/// A `connect` is never REST-API-initiated, whatever `rest_api` says.
pub fn answer(kind: MethodKind, on_error: OnError, rest_api: bool, said: Said) -> Answer {
    let rest_api = rest_api && kind != MethodKind::Connect;
    match said {
        // REST-API-initiated hooks are never declined, nor changed.
        _ if rest_api => Answer::Echo,
        Said::Allow => Answer::Pass,
        // Events already happened: none of their fields may change.
        Said::Override if kind == MethodKind::Event => failed(kind, on_error),
        Said::Override => Answer::Pass,
        Said::Deny(_) if kind == MethodKind::Event => Answer::Echo,
        Said::Deny(status) => Answer::Refuse(status),
        Said::Failure => failed(kind, on_error),
    }
}

/// The `restOnError` fallback of a failed chain.
fn failed(kind: MethodKind, on_error: OnError) -> Answer {
    match fallback(kind, on_error) {
        FallbackAnswer::Refuse(status) => Answer::Refuse(status),
        FallbackAnswer::Echo => Answer::Echo,
    }
}

/// The body of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The received bytes, untouched.
    Echo,
    /// A new JSON document.
    Json(Vec<u8>),
}

/// `{"error": reason, "policy": name}`.
pub(crate) fn error_body(reason: &str, policy: Option<&str>) -> Body {
    let mut body = Map::new();
    body.insert("error".into(), Value::String(reason.to_owned()));
    if let Some(policy) = policy {
        body.insert("policy".into(), Value::String(policy.to_owned()));
    }
    Body::Json(Value::Object(body).to_string().into_bytes())
}

/// Adds `"key": value` to the bytes of the JSON object `map` was parsed from, keeping every
/// received byte as it was. If the object already has the key, it is left unchanged (a
/// mirror must not duplicate keys).
pub(crate) fn append_field(object: &[u8], map: &Map<String, Value>, key: &str, value: &str) -> Vec<u8> {
    if map.contains_key(key) {
        return object.to_vec();
    }
    let end = object.iter().rposition(|b| *b == b'}').unwrap_or(object.len());
    let mut out = Vec::with_capacity(object.len() + key.len() + value.len() + 4);
    out.extend_from_slice(&object[..end]);
    if !map.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(Value::String(key.to_owned()).to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&object[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Answer::{Echo, Pass, Refuse};
    use MethodKind::{Connect, Direct, Event, Incoming};
    use OnError::{Fail, Log};

    /// The README's Answers table, row by row; columns: connect, direct, event, incoming.
    #[test]
    fn every_cell_of_the_answers_table() {
        let row = |said, on_error| [Connect, Direct, Event, Incoming].map(|kind| answer(kind, on_error, false, said));
        for on_error in [Fail, Log] {
            assert_eq!(row(Said::Allow, on_error), [Pass, Pass, Pass, Pass], "allow, {on_error}");
            assert_eq!(row(Said::Deny(451), on_error), [Refuse(451), Refuse(451), Echo, Refuse(451)], "deny");
        }
        // Events cannot change: an override of one is a failure, answered by its fallback.
        assert_eq!(row(Said::Override, Fail), [Pass, Pass, Refuse(500), Pass]);
        assert_eq!(row(Said::Override, Log), [Pass, Pass, Echo, Pass]);
        assert_eq!(row(Said::Failure, Fail), [Refuse(403), Refuse(403), Refuse(500), Refuse(403)]);
        // connect fails closed.
        assert_eq!(row(Said::Failure, Log), [Refuse(403), Echo, Echo, Echo]);
    }

    /// A REST-API-initiated hook is answered with the received bytes whatever the chain
    /// says; a `connect` never is one.
    #[test]
    fn rest_api_initiated_hooks_are_echoed_and_connect_is_never_one() {
        for said in [Said::Allow, Said::Override, Said::Deny(403), Said::Failure] {
            for on_error in [Fail, Log] {
                for kind in [Direct, Event, Incoming] {
                    assert_eq!(answer(kind, on_error, true, said), Echo, "{kind} {on_error} {said:?}");
                }
                assert_eq!(answer(Connect, on_error, true, said), answer(Connect, on_error, false, said));
            }
        }
    }

    #[test]
    fn appended_field_keeps_received_bytes() {
        let body = br#"{"a" : 1,  "b":"x"}
"#;
        let append = |body: &[u8], key, value| append_field(body, &serde_json::from_slice(body).unwrap(), key, value);
        let out = append(body, "restClientConfig", r#"{"m":{}}"#);
        assert_eq!(String::from_utf8(out).unwrap(), "{\"a\" : 1,  \"b\":\"x\",\"restClientConfig\":{\"m\":{}}}\n");
        assert_eq!(append(b"{ }", "k", "1"), b"{ \"k\":1}".to_vec());
        assert_eq!(append(br#"{"k":2}"#, "k", "1"), br#"{"k":2}"#.to_vec());
    }
}
