//! `publisher-quota`: at most `max_publishers` concurrent publishers per appKey, and one
//! publisher per stream name. Needs the `state` capability.
//!
//! Settings: `{"max_publishers": 3, "status": 403}` (`status` optional, 403 by default).
//!
//! Methods (chain it on all three):
//! * `publishStream` — claims the stream name (`stream:<name>` = the session id, by
//!   compare-and-set) and a slot (`publishers`, by `incr`); refuses when the name belongs to
//!   another session or the slots are taken, giving back what it claimed. The session keeps
//!   `pub:<name>` so that the slot is released when the session ends.
//! * `StreamStatusEvent` with status `UNPUBLISHED` or `FAILED` for a publisher — releases.
//! * `ConnectionStatusEvent` with status `DISCONNECTED` or `FAILED` — releases every stream the
//!   session still holds (hookgate then deletes the session's keys).
//!
//! Every update is applied once per hook delivery, so a hook WCS retries never counts twice.

#![forbid(unsafe_code)]

use hookgate_sdk::{Hook, Scope, Verdict, state};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    max_publishers: i64,
    #[serde(default = "default_status")]
    status: u16,
}

fn default_status() -> u16 {
    403
}

fn settings(raw: &str) -> Result<Settings, String> {
    let s: Settings = hookgate_sdk::parse_settings(raw)?;
    if s.max_publishers < 1 {
        return Err(format!("invalid settings: `max_publishers` is {} (expected at least 1)", s.max_publishers));
    }
    if !(400..=599).contains(&s.status) {
        return Err(format!("invalid settings: `status` is {} (expected 400..=599)", s.status));
    }
    Ok(s)
}

/// Checks the settings at load time.
pub fn validate_settings(raw: &str) -> Result<(), String> {
    settings(raw).map(|_| ())
}

/// Claims or releases publisher slots.
pub fn evaluate(hook: &Hook) -> Result<Verdict, String> {
    let s = settings(&hook.settings)?;
    let session = hook.session_id.as_str();
    let status = hook.str_field("status");
    match hook.method.as_str() {
        "publishStream" => publish(hook, &s, session),
        "StreamStatusEvent" if matches!(status.as_deref(), Some("UNPUBLISHED" | "FAILED")) => {
            if hook.json()?["published"] == true
                && let Some(name) = hook.str_field("name")
            {
                release(session, &name)?;
            }
            Ok(Verdict::Allow)
        }
        "ConnectionStatusEvent" if matches!(status.as_deref(), Some("DISCONNECTED" | "FAILED")) => {
            for key in state::keys(Scope::Session(session), "pub:").map_err(|e| e.to_string())? {
                release(session, &key["pub:".len()..])?;
            }
            Ok(Verdict::Allow)
        }
        _ => Ok(Verdict::Allow),
    }
}

fn publish(hook: &Hook, s: &Settings, session: &str) -> Result<Verdict, String> {
    let Some(name) = hook.str_field("name") else {
        return Ok(Verdict::Allow);
    };
    let owner_key = format!("stream:{name}");
    let claimed =
        state::compare_and_set(Scope::Tenant, &owner_key, None, Some(session), 0).map_err(|e| e.to_string())?;
    if !claimed {
        let owner = state::get(Scope::Tenant, &owner_key).map_err(|e| e.to_string())?;
        if owner.as_deref() != Some(session) {
            return Ok(Verdict::deny(s.status, format!("stream name '{name}' is already being published")));
        }
        // The same session publishing the same name again holds its slot already.
        return Ok(Verdict::Allow);
    }
    let publishers = state::incr(Scope::Tenant, "publishers", 1, 0).map_err(|e| e.to_string())?;
    if publishers > s.max_publishers {
        state::incr(Scope::Tenant, "publishers", -1, 0).map_err(|e| e.to_string())?;
        state::delete(Scope::Tenant, &owner_key).map_err(|e| e.to_string())?;
        return Ok(Verdict::deny(
            s.status,
            format!("publisher quota reached: {} of {} publishers", s.max_publishers, s.max_publishers),
        ));
    }
    state::set(Scope::Session(session), &format!("pub:{name}"), "1", 0).map_err(|e| e.to_string())?;
    Ok(Verdict::Allow)
}

/// Gives back the slot and the name `session` holds for stream `name`, if it holds them.
fn release(session: &str, name: &str) -> Result<(), String> {
    if state::delete(Scope::Session(session), &format!("pub:{name}")).map_err(|e| e.to_string())? {
        state::incr(Scope::Tenant, "publishers", -1, 0).map_err(|e| e.to_string())?;
        state::compare_and_set(Scope::Tenant, &format!("stream:{name}"), Some(session), None, 0)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_sdk::MethodKind;

    fn hook(method: &str, session: &str, payload: serde_json::Value) -> Hook {
        Hook {
            method: method.into(),
            kind: if method == "publishStream" { MethodKind::Direct } else { MethodKind::Event },
            app_key: "defaultApp".into(),
            session_id: session.into(),
            payload: payload.to_string(),
            settings: r#"{"max_publishers": 2}"#.into(),
            received_ms: 0,
        }
    }

    fn publish(session: &str, name: &str) -> Verdict {
        evaluate(&hook("publishStream", session, serde_json::json!({"name": name, "sessionId": session}))).unwrap()
    }

    #[test]
    fn quota_and_names_are_enforced_and_released() {
        hookgate_sdk::capabilities::reset();
        assert_eq!(publish("s1", "a"), Verdict::Allow);
        assert!(matches!(publish("s2", "a"), Verdict::Deny { status: 403, .. }), "name taken");
        assert_eq!(publish("s2", "b"), Verdict::Allow);
        assert!(matches!(publish("s3", "c"), Verdict::Deny { status: 403, .. }), "quota of 2");
        let unpublished = serde_json::json!({"name": "a", "published": true, "status": "UNPUBLISHED"});
        assert_eq!(evaluate(&hook("StreamStatusEvent", "s1", unpublished)).unwrap(), Verdict::Allow);
        assert_eq!(publish("s3", "c"), Verdict::Allow, "slot released on UNPUBLISHED");
        let gone = serde_json::json!({"status": "DISCONNECTED"});
        assert_eq!(evaluate(&hook("ConnectionStatusEvent", "s2", gone)).unwrap(), Verdict::Allow);
        assert_eq!(publish("s4", "b"), Verdict::Allow, "slot and name released on DISCONNECTED");
    }

    #[test]
    fn settings_are_checked() {
        assert!(validate_settings(r#"{"max_publishers": 0}"#).is_err());
        assert!(validate_settings(r#"{"max_publishers": 3, "status": 200}"#).is_err());
        assert!(validate_settings(r#"{"max_publishers": 3}"#).is_ok());
    }
}
