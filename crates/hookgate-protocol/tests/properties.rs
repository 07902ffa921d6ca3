//! Property tests (proptest) of method routing and merge patches: arbitrary input never
//! panics, and the patch rules hold for every generated document.

use hookgate_protocol::patch::{check_fields, merge, parse_patch};
use hookgate_protocol::{Method, method};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON values, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-e]", json(), 0..6).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn routing_never_panics_and_aliases_are_stable(name in ".{0,40}") {
        let method = Method::classify(&name);
        prop_assert_eq!(method.name, name.as_str());
        if method.known() {
            prop_assert_eq!(method::lookup(method.canonical).map(|(c, _)| c), Some(method.canonical));
        } else {
            prop_assert_eq!(method.canonical, name.as_str());
        }
    }

    #[test]
    fn patch_text_never_panics(text in ".{0,80}") {
        let _ = parse_patch(&text);
    }

    /// RFC 7396: after merging, every patched key holds the patch's value (objects merged
    /// recursively, nulls removed) and every other key is untouched.
    #[test]
    fn merge_follows_rfc7396(target in object(), patch in object()) {
        let mut merged = target.clone();
        merge(&mut merged, &patch);
        for (key, value) in &patch {
            match value {
                Value::Null => prop_assert!(!merged.contains_key(key)),
                Value::Object(inner) => {
                    let mut expected = match target.get(key) {
                        Some(Value::Object(before)) => before.clone(),
                        _ => Map::new(),
                    };
                    merge(&mut expected, inner);
                    prop_assert_eq!(merged.get(key), Some(&Value::Object(expected)));
                }
                other => prop_assert_eq!(merged.get(key), Some(other)),
            }
        }
        for (key, value) in &target {
            if !patch.contains_key(key) {
                prop_assert_eq!(merged.get(key), Some(value));
            }
        }
        // Applying the same patch again changes nothing.
        let mut again = merged.clone();
        merge(&mut again, &patch);
        prop_assert_eq!(again, merged);
    }

    /// A patch accepted by the field check changes only declared fields (or, with may_add,
    /// adds fields the target did not have).
    #[test]
    fn checked_patches_touch_only_declared_fields(
        target in object(),
        patch in object(),
        declared in prop::collection::vec("[a-e]", 0..3),
        may_add in any::<bool>(),
    ) {
        if check_fields(&patch, &target, &declared, may_add, "m").is_ok() {
            let mut merged = target.clone();
            merge(&mut merged, &patch);
            for (key, before) in &target {
                if !declared.contains(key) {
                    prop_assert_eq!(merged.get(key), Some(before), "undeclared field {} changed", key);
                }
            }
            for key in merged.keys() {
                prop_assert!(target.contains_key(key) || declared.contains(key) || may_add);
            }
        }
    }
}
