//! The one parse: what it accepts, refuses and keeps.

use crate::hook::*;
use serde_json::Value;

fn parse(body: &[u8]) -> Result<(String, String), BadHook> {
    let request = HookRequest { method: "publishStream", body, authorization: None, received_ms: 0 };
    Hook::parse(request, &[]).map(|hook| (hook.app_key, hook.session_id))
}

fn hook<'a>(method: &'a str, body: &'a str, roots: &[String]) -> Hook<'a> {
    let request = HookRequest { method, body: body.as_bytes(), authorization: None, received_ms: 0 };
    Hook::parse(request, roots).unwrap()
}

#[test]
fn envelope_errors_are_precise() {
    assert_eq!(parse(b"[1]").unwrap_err(), BadHook::NotObject);
    assert_eq!(parse(b"\"x\"").unwrap_err(), BadHook::NotObject);
    assert!(matches!(parse(b"{\"a\":"), Err(BadHook::NotJson(_))));
    assert!(matches!(parse(b""), Err(BadHook::NotJson(_))));
    assert!(matches!(parse(b"{} x"), Err(BadHook::NotJson(_))));
    assert_eq!(parse(br#" {"appKey":"a\u0062","sessionId":"s","x":[1,{"y":2}]}"#).unwrap(), ("ab".into(), "s".into()));
    assert_eq!(parse(b"{}").unwrap(), (String::new(), String::new()));
    assert_eq!(parse(b"{\"a\":\"\xff\"}").unwrap_err(), BadHook::NotUtf8(6));
}

#[test]
fn envelope_faults_are_named_for_what_they_are() {
    let duplicate = parse(br#"{"appKey":"a","appKey":"b"}"#).unwrap_err();
    assert_eq!(
        duplicate.to_string(),
        "body has an unusable appKey or sessionId: duplicate field `appKey` at line 1 column 22"
    );
    assert!(matches!(parse(br#"{"appKey":1}"#), Err(BadHook::BadEnvelope(_))));
    // Skimmed by the envelope parse, refused by the full parse an override or connect needs.
    let skimmed = hook("publishStream", r#"{"appKey":"a","x":1e999}"#, &[]);
    assert!(skimmed.document().unwrap_err().to_string().starts_with("body is not valid JSON: "));
}

#[test]
fn the_fields_hookgate_acts_on_are_read_whatever_their_type() {
    let stream = hook("StreamStatusEvent", r#"{"nodeId":"n1","status":"FAILED","mediaSessionId":"m"}"#, &[]);
    assert_eq!((stream.node_id.as_str(), stream.status.as_deref(), stream.stream_fields), ("n1", Some("FAILED"), true));
    let named = hook("publishStream", r#"{"name":"a","published":false,"status":{"x":1},"nodeId":7}"#, &[]);
    assert_eq!((named.node_id.as_str(), named.status, named.stream_fields), ("", None, true));
    // `null` is no field; `name` alone is not a stream's.
    let plain = hook("connect", r#"{"mediaSessionId":null,"name":"a","status":"x","status":"y"}"#, &[]);
    assert_eq!((plain.stream_fields, plain.status.as_deref()), (false, Some("y")));
}

#[test]
fn matcher_fields_are_kept_in_the_same_pass() {
    let roots = ["custom".to_owned(), "nodeId".to_owned(), "sessionId".to_owned()];
    PARSES.with(|parses| parses.set(0));
    let body = r#"{"nodeId":"n","sessionId":"s","custom":{"initiator":"rest-api"},"x":1}"#;
    let kept = hook("publishStream", body, &roots);
    assert_eq!(PARSES.with(std::cell::Cell::get), 1);
    let expected = serde_json::json!({"nodeId":"n","sessionId":"s","custom":{"initiator":"rest-api"}});
    assert_eq!(Value::Object(kept.matched_fields), expected);
    assert_eq!((kept.node_id.as_str(), kept.session_id.as_str()), ("n", "s"));
    // Routing fields keep their rules when a matcher names them.
    for body in [r#"{"sessionId":"a","sessionId":"b"}"#, r#"{"sessionId":1}"#] {
        let request = HookRequest { method: "x", body: body.as_bytes(), authorization: None, received_ms: 0 };
        assert!(matches!(Hook::parse(request, &roots), Err(BadHook::BadEnvelope(_))), "{body}");
    }
}

mod properties {
    use super::parse;
    use crate::hook::BadHook;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Arbitrary bytes never panic; whatever is accepted is a JSON object whose
        /// `appKey` and `sessionId` are the ones returned.
        #[test]
        fn any_bytes_are_answered_precisely(body in prop::collection::vec(any::<u8>(), 0..200)) {
            match parse(&body) {
                Ok((app_key, session_id)) => {
                    let object: Map<String, Value> = serde_json::from_slice(&body).expect("accepted bodies are objects");
                    prop_assert_eq!(object.get("appKey").and_then(Value::as_str).unwrap_or(""), app_key.as_str());
                    prop_assert_eq!(object.get("sessionId").and_then(Value::as_str).unwrap_or(""), session_id.as_str());
                }
                Err(BadHook::NotObject) => prop_assert!(serde_json::from_slice::<Value>(&body).is_ok()),
                Err(BadHook::NotJson(_)) => prop_assert!(serde_json::from_slice::<Value>(&body).is_err()),
                Err(BadHook::BadEnvelope(_)) => prop_assert!(serde_json::from_slice::<Value>(&body).is_ok()),
                Err(BadHook::NotUtf8(at)) => prop_assert!(std::str::from_utf8(&body).is_err() && at <= body.len()),
            }
        }

        /// Well-formed hook bodies (any fields, any escapes in the keys' values) are accepted.
        #[test]
        fn hook_shaped_bodies_are_accepted(app_key in "\\PC{0,12}", session in "\\PC{0,12}", extra in "[a-z]{1,5}", n in any::<i64>()) {
            let body = serde_json::json!({"nodeId": "n", "appKey": app_key, extra: n, "sessionId": session, "custom": {"appKey": 1}});
            let bytes = serde_json::to_vec(&body).unwrap();
            prop_assert_eq!(parse(&bytes), Ok((app_key, session)));
        }
    }
}

#[test]
fn fields_that_do_not_decode_are_skimmed_like_the_rest_of_the_body() {
    // A lone surrogate escape: valid JSON text, not a string serde can decode.
    let body = r#"{"appKey":"a","name":"\ud800A","published":true,"status":"\ud800","nodeId":"\udc00"}"#;
    let parsed = hook("publishStream", body, &[]);
    assert_eq!((parsed.status, parsed.node_id.as_str(), parsed.stream_fields), (None, "", true));
    // Kept for a matcher: not a value it can equal, still read for the envelope.
    let roots = ["name".to_owned(), "nodeId".to_owned()];
    let kept = hook("publishStream", body, &roots);
    assert!(kept.matched_fields.is_empty());
    assert!(kept.stream_fields);
    // A routing field that does not decode is still refused.
    let request = HookRequest { method: "x", body: br#"{"appKey":"\ud800"}"#, authorization: None, received_ms: 0 };
    assert!(matches!(Hook::parse(request, &["appKey".to_owned()]), Err(BadHook::BadEnvelope(_))));
    assert!(matches!(Hook::parse(request, &[]), Err(BadHook::BadEnvelope(_))));
}
