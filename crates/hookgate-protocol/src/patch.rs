//! RFC 7396 JSON merge patches, limited to the fields a tenant declares overwritable.

use serde_json::{Map, Value};

/// Why a policy's override cannot be applied. Each is a policy failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The override is not JSON.
    #[error("override is not valid JSON: {0}")]
    NotJson(String),
    /// The override is JSON but not an object.
    #[error("override must be a JSON object (a merge patch), got {0}")]
    NotObject(&'static str),
    /// The override changes a field the manifest does not declare overwritable.
    #[error("override changes field '{field}', which is not declared overwritable for {method}")]
    FieldNotOverwritable {
        /// The offending top-level field.
        field: String,
        /// The method being answered.
        method: String,
    },
}

/// Parses a policy's override text into a merge-patch object.
pub fn parse_patch(text: &str) -> Result<Map<String, Value>, PatchError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(PatchError::NotObject(json_type(&other))),
        Err(err) => Err(PatchError::NotJson(err.to_string())),
    }
}

/// Checks that `patch` touches only `overwritable` top-level fields of `target`.
///
/// With `may_add` (the `connect` rule), fields absent from `target` may also be added.
pub fn check_fields(
    patch: &Map<String, Value>,
    target: &Map<String, Value>,
    overwritable: &[String],
    may_add: bool,
    method: &str,
) -> Result<(), PatchError> {
    for field in patch.keys() {
        let declared = overwritable.iter().any(|allowed| allowed == field);
        let added = may_add && !target.contains_key(field);
        if !declared && !added {
            return Err(PatchError::FieldNotOverwritable { field: field.clone(), method: method.to_owned() });
        }
    }
    Ok(())
}

/// Applies an RFC 7396 merge patch object to `target` in place.
pub fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target.entry(key.clone()).or_insert(Value::Null);
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(slot) = slot {
                    merge(slot, inner);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test literal is an object"),
        }
    }

    /// The examples of RFC 7396 appendix A that apply to object targets.
    #[test]
    fn rfc7396_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!({"a":"foo"}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (target, patch, expected) in cases {
            let mut target = obj(target);
            merge(&mut target, &obj(patch.clone()));
            assert_eq!(Value::Object(target), expected, "patch {patch}");
        }
    }

    #[test]
    fn only_declared_fields_may_change() {
        let target = obj(json!({"name":"Cam","published":true}));
        let declared = vec!["name".to_owned()];
        assert!(check_fields(&obj(json!({"name":"cam"})), &target, &declared, false, "publishStream").is_ok());
        let err =
            check_fields(&obj(json!({"published":false})), &target, &declared, false, "publishStream").unwrap_err();
        assert_eq!(
            err.to_string(),
            "override changes field 'published', which is not declared overwritable for publishStream"
        );
        assert!(check_fields(&obj(json!({"extra":1})), &target, &declared, false, "publishStream").is_err());
        assert!(check_fields(&obj(json!({"extra":1})), &target, &declared, true, "connect").is_ok());
        assert!(check_fields(&obj(json!({"published":1})), &target, &declared, true, "connect").is_err());
    }

    /// Found by the `merge_patch` fuzz target: serde_json writes this number as
    /// `1.0000000000001337e+32` and, without its `float_roundtrip` feature, read that text back
    /// one unit in the last place off, so the document a policy override produced (the text
    /// the next policy and WCS receive) changed a field the override did not touch.
    #[test]
    fn merged_documents_read_back_unchanged() {
        let mut target: Map<String, Value> =
            serde_json::from_str(r#"{"big":100000000000013368089053625086406,"name":"Cam"}"#).unwrap();
        assert_eq!(target["big"].as_f64(), Some(1.0000000000001337e32));
        merge(&mut target, &parse_patch(r#"{"name":"cam"}"#).unwrap());
        let text = Value::Object(target.clone()).to_string();
        assert_eq!(serde_json::from_str::<Map<String, Value>>(&text).unwrap(), target, "{text}");
    }

    #[test]
    fn override_text_must_be_an_object() {
        assert!(matches!(parse_patch("{not json"), Err(PatchError::NotJson(_))));
        assert_eq!(parse_patch("[1,2]"), Err(PatchError::NotObject("an array")));
        assert_eq!(parse_patch("{\"a\":1}").unwrap().len(), 1);
    }
}
