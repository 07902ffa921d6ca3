//! `audit`: logs one line per event hook and always allows.
//!
//! Meant for `event` methods (`StreamStatusEvent`, `ConnectionStatusEvent`, …). The line goes
//! through the host `log` import (tagged by the host with tenant, policy and method):
//!
//! `StreamStatusEvent session=/1.2.3.4:1/5.6.7.8:8443 status=PUBLISHING name=cam1 mediaSessionId=…`
//!
//! Settings: `{"level": "info"}` (optional; one of trace, debug, info, warn, error).

#![forbid(unsafe_code)]

use hookgate_sdk::log::{self, Level};
use hookgate_sdk::{Hook, RawValue, Verdict};

/// Payload fields reported when present, in this order.
const KEYS: [&str; 5] = ["status", "name", "mediaSessionId", "callId", "info"];

/// Longest value (in bytes) written per field; longer values are cut.
const MAX_VALUE: usize = 200;

/// Logs the hook and allows it.
pub fn evaluate(hook: &Hook) -> Result<Verdict, String> {
    let level = level(&hook.settings)?;
    let mut line = String::with_capacity(128);
    line.push_str(&hook.method);
    line.push_str(" session=");
    line.push_str(if hook.session_id.is_empty() { "-" } else { &hook.session_id });
    match hookgate_sdk::json::fields(&hook.payload, KEYS) {
        Ok(values) => {
            for (key, value) in KEYS.iter().zip(values) {
                if let Some(v) = value {
                    line.push(' ');
                    line.push_str(key);
                    line.push('=');
                    push_value(&mut line, v);
                }
            }
        }
        Err(e) => {
            line.push_str(" (payload is not valid JSON: ");
            line.push_str(e.message);
            line.push(')');
        }
    }
    log::log(level, &line);
    Ok(Verdict::Allow)
}

/// Strings unquoted (cut at [`MAX_VALUE`] bytes), other JSON values as their text.
fn push_value(line: &mut String, v: RawValue<'_>) {
    let text = v.as_str();
    let s: &str = match &text {
        Some(s) => s,
        None => v.raw(),
    };
    if s.len() <= MAX_VALUE {
        line.push_str(s);
    } else {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        line.push_str(&s[..end]);
        line.push('…');
    }
}

fn level(settings: &str) -> Result<Level, String> {
    match hookgate_sdk::json::field(settings, "level") {
        Ok(None) => Ok(Level::Info),
        Ok(Some(v)) => v
            .as_str()
            .and_then(|s| Level::parse(&s))
            .ok_or_else(|| format!("invalid settings: unknown level {v} (expected trace, debug, info, warn or error)")),
        Err(e) => Err(format!("invalid settings: {e}")),
    }
}

/// Accepts `{}` or `{"level": "<level>"}`.
pub fn validate_settings(settings: &str) -> Result<(), String> {
    hookgate_sdk::accept_object_settings(settings)?;
    if settings.trim().is_empty() {
        return Ok(());
    }
    let value: serde_json::Value = hookgate_sdk::parse_settings(settings)?;
    if let Some(key) = value.as_object().and_then(|o| o.keys().find(|k| *k != "level")) {
        return Err(format!("invalid settings: unknown key '{key}' (expected only 'level')"));
    }
    level(settings).map(|_| ())
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

#[cfg(test)]
mod tests {
    use hookgate_sdk::Hook;
    use hookgate_sdk::log::{Level, take_captured};

    #[test]
    fn level_and_truncation() {
        let _ = take_captured();
        let long = "é".repeat(150); // 300 bytes
        let payload = format!(r#"{{"sessionId":"s","name":"{long}"}}"#);
        let hook = Hook::new("StreamStatusEvent", payload).with_settings(r#"{"level":"warn"}"#);
        assert!(super::evaluate(&hook).unwrap().is_allow());
        let logs = take_captured();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0, Level::Warn);
        assert_eq!(logs[0].1, format!("StreamStatusEvent session=s name={}…", "é".repeat(100)));
    }

    #[test]
    fn cases() {
        hookgate_sdk::testing::run_dir(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
            super::evaluate,
            Some(super::validate_settings),
        );
    }
}
