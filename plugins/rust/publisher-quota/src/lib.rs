//! `publisher-quota`: at most `max_publishers` concurrent publishers per appKey, and one
//! publisher per stream name. Needs the `state` capability.
//!
//! Settings: `{"max_publishers": 3, "status": 403}` (`status` optional, 403 by default).
//!
//! Methods (chain it on `publishStream` and `StreamStatusEvent`):
//! * `publishStream` — claims the stream name for the session in the pool of the tenant's
//!   publishers (`state::claim`: the claim `stream:<name>` holds the session id, the session
//!   notes it as `pub:<name>`), refusing when another live session publishes the name or the
//!   live claims are at the quota. One state call, one Redis round trip.
//! * `StreamStatusEvent` with status `UNPUBLISHED` or `FAILED` for a publisher — releases the
//!   name (`state::release`).
//!
//! A session's end needs no call: when WCS reports it DISCONNECTED or FAILED, hookgate deletes
//! the session's keys and gives back the claims its notes name, whatever this chain did.
//!
//! Nothing is a counter, so nothing can drift: the slots in use are the claims whose session
//! still notes them. A claim and a release are each one atomic update; a claim whose note is
//! gone otherwise (the session TTL) is not counted and is cleared by the next publish that finds
//! the quota full, or taken over by the next publish of that name. The quota is never exceeded.
//! Every update is applied once per hook delivery, so a
//! hook WCS retries never claims twice: the retry gets the first delivery's answer.

#![forbid(unsafe_code)]

use hookgate_sdk::{ClaimOutcome, ClaimPool, Hook, Verdict, state};
use serde::Deserialize;

/// The tenant's publishers: claims `stream:<name>`, noted by their sessions as `pub:<name>`.
const PUBLISHERS: ClaimPool<'static> = ClaimPool { claims: "stream:", notes: "pub:" };

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
                state::release(PUBLISHERS, session, Some(&name)).map_err(|e| e.to_string())?;
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
    // At least 1 (checked with the settings); a quota past u32::MAX is as good as none.
    let max = u32::try_from(s.max_publishers).unwrap_or(u32::MAX);
    Ok(match state::claim(PUBLISHERS, &name, session, max).map_err(|e| e.to_string())? {
        ClaimOutcome::Held => Verdict::Allow,
        ClaimOutcome::Taken => Verdict::deny(s.status, format!("stream name '{name}' is already being published")),
        ClaimOutcome::Full => {
            let reason = format!("publisher quota reached: {} of {} publishers", s.max_publishers, s.max_publishers);
            Verdict::deny(s.status, reason)
        }
    })
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_sdk::{MethodKind, Scope};

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
        hookgate_sdk::capabilities::end_session("s2"); // what hookgate does after that chain
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
