//! Merge patches (`hookgate_protocol::patch`) on arbitrary documents and patch texts.
//!
//! Input: `<target document> NUL <patch text> NUL <declared fields, comma-separated>`, and a
//! fourth NUL-separated part (any content) turns on `may_add` (the `connect` rule). Checks:
//! - `parse_patch` accepts exactly the JSON objects and tells "not JSON" from "not an object";
//! - a patch that passes `check_fields` touches only declared fields (or, with `may_add`,
//!   adds fields the target lacked), and one that fails names a field that is neither;
//! - `merge` follows RFC 7396 key by key, is idempotent, and its result serialises to JSON
//!   that reads back as the same document (what the next policy of a chain receives).

#![no_main]

use hookgate_protocol::patch::{PatchError, check_fields, merge, parse_patch};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|byte| *byte == 0);
    let target = parts.next().unwrap_or_default();
    let patch_text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let declared: Vec<String> = String::from_utf8_lossy(parts.next().unwrap_or_default())
        .split(',')
        .filter(|field| !field.is_empty())
        .map(str::to_owned)
        .collect();
    let may_add = parts.next().is_some();

    let patch = match parse_patch(&patch_text) {
        Ok(patch) => patch,
        Err(PatchError::NotObject(_)) => {
            let value: Value = serde_json::from_str(&patch_text).expect("NotObject patch text is JSON");
            assert!(!value.is_object(), "an object patch was refused as not an object");
            return;
        }
        Err(PatchError::NotJson(_)) => {
            assert!(serde_json::from_str::<Value>(&patch_text).is_err(), "JSON patch text refused as not JSON");
            return;
        }
        Err(other) => panic!("parse_patch returned {other:?}"),
    };

    // The engine merges into the received body, which the envelope parse accepted as an object.
    let Ok(target) = serde_json::from_slice::<Map<String, Value>>(target) else { return };

    match check_fields(&patch, &target, &declared, may_add, "method") {
        Ok(()) => {
            let mut merged = target.clone();
            merge(&mut merged, &patch);
            for (key, before) in &target {
                if !declared.contains(key) {
                    assert_eq!(merged.get(key), Some(before), "undeclared field {key} changed");
                }
            }
            for key in merged.keys() {
                assert!(
                    target.contains_key(key) || declared.contains(key) || may_add,
                    "field {key} added without being declared"
                );
            }
        }
        Err(PatchError::FieldNotOverwritable { field, method }) => {
            assert_eq!(method, "method");
            assert!(patch.contains_key(&field), "refused field {field} is not in the patch");
            assert!(!declared.contains(&field), "declared field {field} refused");
            assert!(!may_add || target.contains_key(&field), "addable field {field} refused");
        }
        Err(other) => panic!("check_fields returned {other:?}"),
    }

    let mut merged = target.clone();
    merge(&mut merged, &patch);
    for (key, value) in &patch {
        match value {
            Value::Null => assert!(!merged.contains_key(key), "null did not remove {key}"),
            Value::Object(inner) => {
                let mut expected = match target.get(key) {
                    Some(Value::Object(before)) => before.clone(),
                    _ => Map::new(),
                };
                merge(&mut expected, inner);
                assert_eq!(merged.get(key), Some(&Value::Object(expected)), "object {key} not merged");
            }
            other => assert_eq!(merged.get(key), Some(other), "{key} not replaced"),
        }
    }
    for (key, value) in &target {
        if !patch.contains_key(key) {
            assert_eq!(merged.get(key), Some(value), "unpatched {key} changed");
        }
    }
    let mut again = merged.clone();
    merge(&mut again, &patch);
    assert_eq!(again, merged, "merge is not idempotent");

    let text = Value::Object(merged.clone()).to_string();
    let reread: Map<String, Value> = serde_json::from_str(&text).expect("merged document serialises to JSON");
    assert_eq!(reread, merged, "merged document does not read back the same");
});
