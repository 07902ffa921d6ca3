//! The `restClientConfig` object added to allowed `connect` answers (docs/protocol/wcs.md#restclientconfig, docs/protocol/wcs-reference.md §4.1).

use crate::OnError;
use serde_json::{Map, Value};

/// One configured method, as the tenant manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodEntry {
    /// The method name as WCS spells it.
    pub method: String,
    /// The method's `on_error`, announced as `restOnError`.
    pub on_error: OnError,
    /// Overwritable fields; non-empty means `restPolicy: OVERWRITE`.
    pub overwrite: Vec<String>,
}

/// Builds the `restClientConfig` object: one entry per configured method, in order.
///
/// Each entry carries `restExclude`, `clientExclude` (empty), `restOnError`, `restPolicy`
/// (`OVERWRITE` when the method has overwritable fields, else `NOTIFY`) and `restOverwrite`
/// (the comma-separated field list).
pub fn build<'a>(entries: impl IntoIterator<Item = &'a MethodEntry>) -> Value {
    let mut config = Map::new();
    for entry in entries {
        let policy = if entry.overwrite.is_empty() { "NOTIFY" } else { "OVERWRITE" };
        let mut item = Map::new();
        item.insert("restExclude".into(), Value::String(String::new()));
        item.insert("clientExclude".into(), Value::String(String::new()));
        item.insert("restOnError".into(), Value::String(entry.on_error.as_str().into()));
        item.insert("restPolicy".into(), Value::String(policy.into()));
        item.insert("restOverwrite".into(), Value::String(entry.overwrite.join(",")));
        config.insert(entry.method.clone(), Value::Object(item));
    }
    Value::Object(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overwrite_and_notify_entries() {
        let entries = vec![
            MethodEntry { method: "publishStream".into(), on_error: OnError::Fail, overwrite: vec!["name".into()] },
            MethodEntry { method: "StreamStatusEvent".into(), on_error: OnError::Log, overwrite: vec![] },
        ];
        assert_eq!(
            build(&entries),
            json!({
                "publishStream": {"restExclude":"","clientExclude":"","restOnError":"FAIL","restPolicy":"OVERWRITE","restOverwrite":"name"},
                "StreamStatusEvent": {"restExclude":"","clientExclude":"","restOnError":"LOG","restPolicy":"NOTIFY","restOverwrite":""}
            })
        );
    }
}
