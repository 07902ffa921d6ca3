//! `{{name}}`: allows every hook except a stream whose `name` starts with a prefix (denied 403).
//! Settings: `{"prefix": "test-"}` (optional; the default is `test-`).
//! Build: `hookgate build . -o {{module}}`; test: `hookgate test .`.

use hookgate_sdk::{Hook, Verdict};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_prefix")]
    prefix: String,
}

fn default_prefix() -> String {
    "test-".into()
}

fn settings(raw: &str) -> Result<Settings, String> {
    let s: Settings = hookgate_sdk::parse_settings(raw)?;
    if s.prefix.is_empty() {
        return Err("invalid settings: `prefix` must be a non-empty string".into());
    }
    Ok(s)
}

/// Checks the settings at load time.
pub fn validate_settings(raw: &str) -> Result<(), String> {
    settings(raw).map(|_| ())
}

/// Decides one hook.
pub fn evaluate(hook: &Hook) -> Result<Verdict, String> {
    let s = settings(&hook.settings)?;
    match hook.str_field("name") {
        Some(name) if name.starts_with(&s.prefix) => {
            Ok(Verdict::forbid(format!("stream name '{name}' is not allowed")))
        }
        _ => Ok(Verdict::Allow),
    }
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

