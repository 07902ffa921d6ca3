//! `chat-relay`: rooms over WCS data messages. Needs `state`, `send-data` and `notify`.
//!
//! * `OnDataEvent` whose `payload` has a string `room`: the sending session joins that room
//!   (tenant key `room:<room>:<sessionId>`, remembered by the session as `room:<room>`), the
//!   message is relayed with `send-data` to every other session in the room, and the room's
//!   watchers get a `chat` event (id = the room) with `{"from", "payload"}`.
//! * `ConnectionStatusEvent` DISCONNECTED or FAILED: the session leaves its rooms.
//!
//! Settings: `{"max_room": 100}` (optional): at most that many sessions receive one message.

#![forbid(unsafe_code)]

use hookgate_sdk::{Hook, Scope, Verdict, notify, send_data, state};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_max_room")]
    max_room: usize,
}

fn default_max_room() -> usize {
    100
}

fn settings(raw: &str) -> Result<Settings, String> {
    let s: Settings = hookgate_sdk::parse_settings(raw)?;
    if s.max_room == 0 {
        return Err("invalid settings: `max_room` must be at least 1".into());
    }
    Ok(s)
}

/// Checks the settings at load time.
pub fn validate_settings(raw: &str) -> Result<(), String> {
    settings(raw).map(|_| ())
}

/// Relays room messages and forgets sessions that end.
pub fn evaluate(hook: &Hook) -> Result<Verdict, String> {
    let s = settings(&hook.settings)?;
    let session = hook.session_id.as_str();
    match hook.method.as_str() {
        "OnDataEvent" => {
            let body = hook.json()?;
            let payload = &body["payload"];
            let Some(room) = payload["room"].as_str() else {
                return Ok(Verdict::Allow);
            };
            let member = format!("room:{room}:");
            state::set(Scope::Tenant, &format!("{member}{session}"), "1", 0).map_err(|e| e.to_string())?;
            state::set(Scope::Session(session), &format!("room:{room}"), "1", 0).map_err(|e| e.to_string())?;
            let text = payload.to_string();
            let members = state::keys(Scope::Tenant, &member).map_err(|e| e.to_string())?;
            for other in
                members.iter().map(|key| &key[member.len()..]).filter(|other| *other != session).take(s.max_room)
            {
                send_data(other, &text)?;
            }
            notify("chat", room, &json!({"from": session, "payload": payload}).to_string())?;
            Ok(Verdict::Allow)
        }
        "ConnectionStatusEvent" if matches!(hook.str_field("status").as_deref(), Some("DISCONNECTED" | "FAILED")) => {
            for key in state::keys(Scope::Session(session), "room:").map_err(|e| e.to_string())? {
                state::delete(Scope::Tenant, &format!("{key}:{session}")).map_err(|e| e.to_string())?;
            }
            Ok(Verdict::Allow)
        }
        _ => Ok(Verdict::Allow),
    }
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_sdk::MethodKind;
    use serde_json::Value;

    fn hook(method: &str, session: &str, payload: Value) -> Hook {
        Hook {
            method: method.into(),
            kind: MethodKind::of(method),
            app_key: "defaultApp".into(),
            session_id: session.into(),
            payload: payload.to_string(),
            settings: "{}".into(),
            received_ms: 0,
        }
    }

    fn say(session: &str, room: &str, message: &str) {
        let body = json!({"sessionId": session, "operationId": "op", "payload": {"room": room, "message": message}});
        assert_eq!(evaluate(&hook("OnDataEvent", session, body)).unwrap(), Verdict::Allow);
    }

    #[test]
    fn messages_reach_the_other_members_and_the_watchers() {
        hookgate_sdk::capabilities::reset();
        say("s1", "lobby", "hi");
        assert!(hookgate_sdk::capabilities::take_sent().is_empty(), "alone in the room");
        say("s2", "lobby", "hello");
        say("s3", "kitchen", "elsewhere");
        let sent = hookgate_sdk::capabilities::take_sent();
        assert_eq!(sent, vec![("s1".to_owned(), r#"{"message":"hello","room":"lobby"}"#.to_owned())]);
        let notified = hookgate_sdk::capabilities::take_notified();
        assert_eq!(notified.len(), 3);
        assert_eq!((notified[1].0.as_str(), notified[1].1.as_str()), ("chat", "lobby"));

        let gone = json!({"status": "DISCONNECTED"});
        assert_eq!(evaluate(&hook("ConnectionStatusEvent", "s1", gone)).unwrap(), Verdict::Allow);
        say("s2", "lobby", "anyone?");
        assert!(hookgate_sdk::capabilities::take_sent().is_empty(), "s1 left the room");
    }
}
