//! Which WCS hooks become events, and the object id each is attached by.
//!
//! | event type (= hook method) | `id` is the payload's | the object |
//! |---|---|---|
//! | `ConnectionStatusEvent` | `sessionId` | the client's WebSocket session |
//! | `RegistrationStatusEvent` | `sessionId` | the session's SIP registration |
//! | `StreamStatusEvent` | `name` | the stream, by name |
//! | `StreamKeepAliveEvent` | `name` | the stream, by name |
//! | `StreamEvent` | `mediaSessionId` | the media session (mute, data, mixer, …) |
//! | `CallStatusEvent` | `callId` | the call |
//! | `TransferStatusEvent` | `callId` | the call being transferred |
//! | `OnTransferEvent` | `callId` | the call being transferred |
//! | `MessageStatusEvent` | `id` | the message |
//! | `OnMessageEvent` | `id` | the message |
//! | `DataStatusEvent` | `operationId` | the `sendData` operation |
//! | `BugReportStatusEvent` | `sessionId` | the session |
//! | `SessionDebugStatusEvent` | `sessionId` | the session |
//! | `SubscriptionStatusEvent` | `sessionId` | the session |
//! | `XcapStatusEvent` | `sessionId` | the session |
//! | `ErrorEvent` (also sent as `ErrorStatusEvent`) | `sessionId` | the session |
//! | `RecordingStatusEvent` | `sessionId` | the session |
//!
//! These are the hooks of kind *event* in `hookgate-protocol`'s catalogue (an alias is
//! published under its canonical name). `connect`, direct invocations (`publishStream`,
//! `OnDataEvent`, …), incoming calls (`OnCallEvent`) and methods outside the catalogue are
//! not events: [`event_key`] gives `None` for them, as it does when the id field is absent
//! or not a string. Policies publish any other type through `notify(type, id, data)`.

use hookgate_protocol::MethodKind;
use serde_json::Value;

/// The event type attachable without an id (it then receives every notification of the
/// tenants the user may see).
pub const NOTIFICATION: &str = "notification";

/// (event type, the payload field that holds its id), canonical spellings.
const EVENT_IDS: &[(&str, &str)] = &[
    ("ConnectionStatusEvent", "sessionId"),
    ("RegistrationStatusEvent", "sessionId"),
    ("StreamStatusEvent", "name"),
    ("StreamKeepAliveEvent", "name"),
    ("StreamEvent", "mediaSessionId"),
    ("CallStatusEvent", "callId"),
    ("TransferStatusEvent", "callId"),
    ("OnTransferEvent", "callId"),
    ("MessageStatusEvent", "id"),
    ("OnMessageEvent", "id"),
    ("DataStatusEvent", "operationId"),
    ("BugReportStatusEvent", "sessionId"),
    ("SessionDebugStatusEvent", "sessionId"),
    ("SubscriptionStatusEvent", "sessionId"),
    ("XcapStatusEvent", "sessionId"),
    ("ErrorEvent", "sessionId"),
    ("RecordingStatusEvent", "sessionId"),
];

/// The event a hook publishes: `(event type, object id)`, or `None` when the hook is not an
/// event (see the module's table). `method` is the hook method as received (aliases
/// accepted), `payload` the hook body.
///
/// ```
/// let payload = serde_json::json!({"appKey": "defaultApp", "name": "stream1", "status": "PUBLISHING"});
/// assert_eq!(hookgate_events::event_key("StreamStatusEvent", &payload), Some(("StreamStatusEvent", "stream1")));
/// assert_eq!(hookgate_events::event_key("publishStream", &payload), None);
/// ```
pub fn event_key<'a>(method: &str, payload: &'a Value) -> Option<(&'static str, &'a str)> {
    let (event_type, field) = event_type(method)?;
    Some((event_type, payload.get(field)?.as_str()?))
}

/// The event type a hook method publishes, and the payload field holding its id.
pub(crate) fn event_type(method: &str) -> Option<(&'static str, &'static str)> {
    let (canonical, kind) = hookgate_protocol::method::lookup(method)?;
    if kind != MethodKind::Event {
        return None;
    }
    EVENT_IDS.iter().find(|(event, _)| *event == canonical).copied()
}

/// Parts of key names whose values are replaced by [`MASK`] in event data, compared without
/// regard to ASCII case: a key is masked when it *contains* one of them, so `authToken`,
/// `sipPassword`, `clientSecret` and `Authorization` are all caught. Masking is recursive
/// (objects inside arrays inside objects) and replaces the whole value, whatever its type.
pub const MASKED_KEYS: &[&str] =
    &["token", "password", "passwd", "secret", "authorization", "auth", "credential", "cookie"];

/// What a masked value becomes.
pub const MASK: &str = "***";

/// Masks, in place, every value whose key matches [`MASKED_KEYS`].
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if is_secret(key) {
                    *field = Value::String(MASK.to_owned());
                } else {
                    mask_secrets(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

fn is_secret(key: &str) -> bool {
    let key = key.as_bytes();
    MASKED_KEYS.iter().any(|part| key.windows(part.len()).any(|window| window.eq_ignore_ascii_case(part.as_bytes())))
}

/// The event service's part of an answered hook: its own event, and its policies'
/// notifications.
impl hookgate_protocol::EffectSink for crate::EventHub {
    fn hook(&self, origin: &hookgate_protocol::Origin<'_>, method: &str, body: &str) {
        self.publish_hook(origin.app_key, method, body);
    }

    fn effect(&self, origin: &hookgate_protocol::Origin<'_>, effect: &hookgate_protocol::Effect) {
        if let hookgate_protocol::Effect::Notify { event_type, id, data } = effect {
            // The runtime checked that `data` is JSON.
            self.publish(origin.app_key, event_type, id, serde_json::from_str(data).unwrap_or(Value::Null));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_catalogued_event_has_an_id_field_and_nothing_else_is_an_event() {
        let payload =
            json!({"sessionId": "s", "name": "n", "mediaSessionId": "m", "callId": "c", "id": "i", "operationId": "o"});
        for (event, field) in EVENT_IDS {
            let (kind_name, id) = event_key(event, &payload).unwrap_or_else(|| panic!("{event} is an event"));
            assert_eq!(kind_name, *event);
            assert_eq!(id, payload[field]);
        }
        assert_eq!(event_key("ErrorStatusEvent", &payload), Some(("ErrorEvent", "s")));
        for not_event in ["connect", "publishStream", "OnDataEvent", "OnCallEvent", "SomethingNewEvent"] {
            assert_eq!(event_key(not_event, &payload), None, "{not_event}");
        }
        assert_eq!(event_key("StreamStatusEvent", &json!({"name": 5})), None);
        assert_eq!(event_key("StreamStatusEvent", &json!({})), None);
    }

    #[test]
    fn secrets_are_masked_recursively_and_the_rest_is_kept() {
        let mut payload = json!({
            "appKey": "defaultApp", "authToken": "t", "custom": {"token": {"a": 1}, "room": "r"},
            "list": [{"sipPassword": "p", "ok": true}], "Authorization": "Bearer x", "name": "stream1"
        });
        mask_secrets(&mut payload);
        assert_eq!(
            payload,
            json!({
                "appKey": "defaultApp", "authToken": MASK, "custom": {"token": MASK, "room": "r"},
                "list": [{"sipPassword": MASK, "ok": true}], "Authorization": MASK, "name": "stream1"
            })
        );
    }
}
