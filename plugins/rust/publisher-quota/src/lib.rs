//! `publisher-quota`: at most `max_publishers` concurrent publishers per appKey, and one
//! publisher per stream name. Needs the `state` capability.
//!
//! Settings: `{"max_publishers": 3, "status": 403}` (`status` optional, 403 by default).
//!
//! Methods (chain it on all three):
//! * `publishStream` — notes the name in the session (`pub:<name>`), claims it for the
//!   tenant (`stream:<name>` = the session id, by compare-and-set), then counts the claims;
//!   refuses when the name belongs to another live session or the claims are over the quota,
//!   giving back what it claimed.
//! * `StreamStatusEvent` with status `UNPUBLISHED` or `FAILED` for a publisher — releases.
//! * `ConnectionStatusEvent` with status `DISCONNECTED` or `FAILED` — releases every stream the
//!   session still holds (hookgate then deletes the session's keys).
//!
//! Nothing is a counter, so nothing can drift: the slots in use are the claims whose session
//! still notes them. Every step leaves a state that the session's end repairs, whatever stops
//! an evaluation halfway (an unreachable backend, the deadline): the note is written before the
//! claim, so a session's end (which deletes its keys even if this chain fails) always finds or
//! orphans what it claimed, and an orphaned claim (its session gone, its note with it) is not
//! counted and is cleared by the next publish that finds the quota full, or taken over by the
//! next publish of that name. Two publishes racing for the last slot may both be refused; the
//! quota is never exceeded. Every update is applied once per hook delivery, so a hook WCS
//! retries never claims twice.

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
    // The note first: from here on, the session's end releases whatever this evaluation claims.
    state::set(Scope::Session(session), &note(&name), "1", 0).map_err(|e| e.to_string())?;
    let claim = format!("stream:{name}");
    if !state::compare_and_set(Scope::Tenant, &claim, None, Some(session), 0).map_err(|e| e.to_string())? {
        let owner = state::get(Scope::Tenant, &claim).map_err(|e| e.to_string())?;
        let taken = match owner.as_deref() {
            // The same session publishing the same name again holds its slot already.
            Some(owner) if owner == session => return Ok(Verdict::Allow),
            Some(owner) if notes(owner, &name)? => true,
            // An orphaned claim (or one released meanwhile): take it over.
            owner => {
                !state::compare_and_set(Scope::Tenant, &claim, owner, Some(session), 0).map_err(|e| e.to_string())?
            }
        };
        if taken {
            state::delete(Scope::Session(session), &note(&name)).map_err(|e| e.to_string())?;
            return Ok(Verdict::deny(s.status, format!("stream name '{name}' is already being published")));
        }
    }
    let quota_reached = || {
        let reason = format!("publisher quota reached: {} of {} publishers", s.max_publishers, s.max_publishers);
        Ok(Verdict::deny(s.status, reason))
    };
    // A retried delivery gets the first delivery's claim (the journal), not a new one: if that
    // delivery was refused, it gave the claim back, and the retry is refused again.
    if state::get(Scope::Tenant, &claim).map_err(|e| e.to_string())?.as_deref() != Some(session) {
        return quota_reached();
    }
    if over_quota(s.max_publishers, session, &claim)? {
        release(session, &name)?;
        return quota_reached();
    }
    Ok(Verdict::Allow)
}

/// Whether the live claims, `session`'s claim `claim` among them, are more than `max`. Only
/// when there are more claims than that does it look at their sessions, up to the first
/// `max` live ones besides its own, clearing the orphaned claims it meets.
fn over_quota(max: i64, session: &str, claim: &str) -> Result<bool, String> {
    let claims = state::keys(Scope::Tenant, "stream:").map_err(|e| e.to_string())?;
    if i64::try_from(claims.len()).unwrap_or(i64::MAX) <= max {
        return Ok(false);
    }
    let mut live = 1;
    for other in claims.iter().filter(|other| *other != claim) {
        let Some(owner) = state::get(Scope::Tenant, other).map_err(|e| e.to_string())? else {
            continue;
        };
        if owner == session || notes(&owner, &other["stream:".len()..])? {
            live += 1;
            if live > max {
                return Ok(true);
            }
        } else {
            state::compare_and_set(Scope::Tenant, other, Some(&owner), None, 0).map_err(|e| e.to_string())?;
        }
    }
    Ok(false)
}

/// The session key that notes a stream name the session publishes.
fn note(name: &str) -> String {
    format!("pub:{name}")
}

/// Whether `session` still notes stream `name` (its claim is live).
fn notes(session: &str, name: &str) -> Result<bool, String> {
    Ok(state::get(Scope::Session(session), &note(name)).map_err(|e| e.to_string())?.is_some())
}

/// Gives back the name `session` claimed for stream `name`, if it holds it, then its note.
fn release(session: &str, name: &str) -> Result<(), String> {
    state::compare_and_set(Scope::Tenant, &format!("stream:{name}"), Some(session), None, 0)
        .map_err(|e| e.to_string())?;
    state::delete(Scope::Session(session), &note(name)).map_err(|e| e.to_string())?;
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
            kind: MethodKind::of(method),
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
    fn a_claim_whose_session_ended_without_releasing_is_not_counted_and_is_taken_over() {
        hookgate_sdk::capabilities::reset();
        assert_eq!(publish("s1", "a"), Verdict::Allow);
        assert_eq!(publish("s2", "b"), Verdict::Allow);
        // s1 ended while the backend was unreachable: its chain failed, hookgate deleted its keys.
        state::delete(Scope::Session("s1"), "pub:a").unwrap();
        assert_eq!(publish("s3", "c"), Verdict::Allow, "s1's orphaned claim does not count");
        assert_eq!(state::get(Scope::Tenant, "stream:a").unwrap(), None, "and was cleared");
        assert!(matches!(publish("s4", "d"), Verdict::Deny { status: 403, .. }), "quota of 2");
        assert_eq!(state::get(Scope::Session("s4"), "pub:d").unwrap(), None, "s4 gave back its note");
        assert_eq!(state::get(Scope::Tenant, "stream:d").unwrap(), None, "and its claim");
        // An orphaned name is taken over by the next publisher of it.
        state::delete(Scope::Session("s2"), "pub:b").unwrap();
        assert_eq!(publish("s5", "b"), Verdict::Allow);
        assert_eq!(state::get(Scope::Tenant, "stream:b").unwrap().as_deref(), Some("s5"));
    }

    #[test]
    fn a_refused_name_leaves_the_owner_alone() {
        hookgate_sdk::capabilities::reset();
        assert_eq!(publish("s1", "a"), Verdict::Allow);
        assert_eq!(publish("s1", "a"), Verdict::Allow, "the same session again");
        assert!(matches!(publish("s2", "a"), Verdict::Deny { status: 403, .. }));
        assert_eq!(state::get(Scope::Session("s2"), "pub:a").unwrap(), None);
        assert_eq!(state::get(Scope::Tenant, "stream:a").unwrap().as_deref(), Some("s1"));
        assert!(state::get(Scope::Session("s1"), "pub:a").unwrap().is_some());
    }

    #[test]
    fn settings_are_checked() {
        assert!(validate_settings(r#"{"max_publishers": 0}"#).is_err());
        assert!(validate_settings(r#"{"max_publishers": 3, "status": 200}"#).is_err());
        assert!(validate_settings(r#"{"max_publishers": 3}"#).is_ok());
    }
}
