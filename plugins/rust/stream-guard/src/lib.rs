//! `stream-guard`: refuses forbidden stream names and normalizes the others
//! (for `publishStream` / `playStream`).
//!
//! Settings: `{"deny": ["forbidden_*", "test-??"], "normalize": "lowercase" | "none", "status": 403}`
//! (all optional: `deny` defaults to `[]`, `normalize` to `lowercase`, `status` to 403).
//!
//! * If the payload's `name` matches a deny pattern (`*` = any run of characters, `?` = one
//!   character, everything else literal and case-sensitive) → deny with `status` and reason
//!   `stream name '<name>' is forbidden`. With `normalize: lowercase` the lowercased name is
//!   matched too, so `FORBIDDEN_x` cannot slip past `forbidden_*` by case.
//! * Else, with `normalize: lowercase`, a name with uppercase characters → override
//!   `{"name": "<lowercased>"}`.
//! * Else (or without a string `name`) → allow.

#![forbid(unsafe_code)]

use hookgate_sdk::{Hook, Patch, Verdict};
use serde::Deserialize;

/// Most patterns accepted.
const MAX_PATTERNS: usize = 1000;
/// Longest pattern accepted, in bytes.
const MAX_PATTERN_LEN: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    normalize: Normalize,
    #[serde(default = "default_status")]
    status: u16,
}

fn default_status() -> u16 {
    403
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Normalize {
    #[default]
    Lowercase,
    None,
}

fn settings(raw: &str) -> Result<Settings, String> {
    let s: Settings = hookgate_sdk::parse_settings(raw)?;
    if !(400..=599).contains(&s.status) {
        return Err(format!("invalid settings: `status` is {} (expected 400..=599)", s.status));
    }
    if s.deny.len() > MAX_PATTERNS {
        return Err(format!("invalid settings: {} deny patterns (at most {MAX_PATTERNS})", s.deny.len()));
    }
    for p in &s.deny {
        check_pattern(p).map_err(|e| format!("invalid settings: deny pattern {p:?}: {e}"))?;
    }
    Ok(s)
}

fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty pattern".into());
    }
    if p.len() > MAX_PATTERN_LEN {
        return Err(format!("longer than {MAX_PATTERN_LEN} bytes"));
    }
    if let Some(c) = p.chars().find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\')) {
        return Err(format!("unsupported glob syntax '{c}' (only * and ? are special)"));
    }
    if p.chars().any(char::is_control) {
        return Err("control character".into());
    }
    Ok(())
}

/// Checks the settings at load time.
pub fn validate_settings(raw: &str) -> Result<(), String> {
    settings(raw).map(|_| ())
}

/// Guards the stream name.
pub fn evaluate(hook: &Hook) -> Result<Verdict, String> {
    let s = settings(&hook.settings)?;
    let Some(name) = hook.str_field("name") else {
        return Ok(Verdict::Allow);
    };
    let lower = match s.normalize {
        Normalize::Lowercase if name.chars().any(char::is_uppercase) => Some(name.to_lowercase()),
        _ => None,
    };
    let forbidden = s.deny.iter().any(|p| glob_match(p, &name) || lower.as_deref().is_some_and(|l| glob_match(p, l)));
    if forbidden {
        return Ok(Verdict::deny(s.status, format!("stream name '{name}' is forbidden")));
    }
    Ok(match lower {
        Some(l) if l != name => Patch::new().set_str("name", &l).into_verdict(),
        _ => Verdict::Allow,
    })
}

/// Glob match over characters: `*` matches any run (also empty), `?` exactly one character.
/// Backtracks only to the last `*`: O(pattern × text) at worst, never exponential.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None; // (pattern index after '*', text index)
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("forbidden_*", "forbidden_"));
        assert!(glob_match("forbidden_*", "forbidden_cam"));
        assert!(!glob_match("forbidden_*", "xforbidden_cam"));
        assert!(glob_match("*secret*", "my-secret-cam"));
        assert!(glob_match("cam-??", "cam-01"));
        assert!(!glob_match("cam-??", "cam-1"));
        assert!(!glob_match("cam-??", "cam-001"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("?é*", "xé名前"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "Exact"));
        assert!(glob_match("**a**", "bab"));
        // Pathological input stays fast.
        let long = "a".repeat(10_000);
        assert!(!glob_match("*a*a*a*a*a*b", &long));
    }

    fn run(settings: &str, payload: &str) -> Verdict {
        evaluate(&Hook::new("publishStream", payload).with_settings(settings)).unwrap()
    }

    #[test]
    fn decisions() {
        let s = r#"{"deny":["forbidden_*"]}"#;
        assert_eq!(run(s, r#"{"name":"forbidden_x"}"#), Verdict::forbid("stream name 'forbidden_x' is forbidden"));
        assert_eq!(run(s, r#"{"name":"FORBIDDEN_X"}"#), Verdict::forbid("stream name 'FORBIDDEN_X' is forbidden"));
        assert_eq!(run(s, r#"{"name":"B4E7-Cam"}"#), Verdict::Override(r#"{"name":"b4e7-cam"}"#.into()));
        assert_eq!(run(s, r#"{"name":"cam"}"#), Verdict::Allow);
        assert_eq!(run(s, r#"{"other":1}"#), Verdict::Allow);
        assert_eq!(run(s, r#"{"name":7}"#), Verdict::Allow);
        let none = r#"{"deny":["forbidden_*"],"normalize":"none","status":451}"#;
        assert_eq!(run(none, r#"{"name":"Cam"}"#), Verdict::Allow);
        assert_eq!(run(none, r#"{"name":"FORBIDDEN_X"}"#), Verdict::Allow);
        assert_eq!(
            run(none, r#"{"name":"forbidden_x"}"#),
            Verdict::deny(451, "stream name 'forbidden_x' is forbidden")
        );
        // Unicode lowercase and escapes in the override.
        assert_eq!(run("{}", r#"{"name":"ÄB\"C"}"#), Verdict::Override(r#"{"name":"äb\"c"}"#.into()));
    }

    #[test]
    fn settings_validation() {
        assert!(validate_settings("{}").is_ok());
        assert!(validate_settings("").is_ok());
        assert!(validate_settings(r#"{"deny":["a*","?b"],"normalize":"none","status":404}"#).is_ok());
        for (bad, why) in [
            (r#"{"deny":[""]}"#, "empty pattern"),
            (r#"{"deny":["cam[0-9]"]}"#, "unsupported glob syntax '['"),
            (r#"{"deny":["a\\b"]}"#, "unsupported glob syntax '\\'"),
            (r#"{"deny":"forbidden_*"}"#, "invalid type"),
            (r#"{"status":200}"#, "expected 400..=599"),
            (r#"{"status":99999}"#, "invalid value"),
            (r#"{"normalize":"upper"}"#, "unknown variant"),
            (r#"{"denny":[]}"#, "unknown field `denny`"),
        ] {
            let e = validate_settings(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn cases() {
        hookgate_sdk::testing::run_dir(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../cases/stream-guard"),
            evaluate,
            Some(validate_settings),
        );
    }
}
