//! The wire format of `websocket-events-service.ru.txt`: requests, answers, event messages.
//!
//! A request is `{"auth": "<JWT>", "action": "attach" | "detach", "event": {"type", "id"}}`;
//! hookgate also reads an optional `event.appKey` naming one tenant (without it, every appKey
//! the user may watch). An answer is `{"status", "message", "code"}` with the document's
//! codes 1–5 and messages, plus codes 6–8 for what the document does not cover (limits, a
//! subscriber too slow, an expired token); see the crate doc's table.

use serde::Serialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The answer codes. 0–5 are the document's; 6–8 are hookgate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0, `"Ok"`.
    Ok,
    /// 1, `"Token not set"`: no `auth`, or an empty one.
    TokenNotSet,
    /// 2, `"Invalid token"`: bad signature, algorithm, issuer, expired, or no user id in it.
    InvalidToken,
    /// 3, `"User not exists"`: the token's user is not in the user directory.
    UserNotExists,
    /// 4, `"Not access for dataset"`: the appKey or event type is not the user's to watch, or
    /// the connection already belongs to another user.
    NoAccess,
    /// 5, `"Invalid request"`: not JSON, or a field missing or of the wrong type.
    InvalidRequest,
    /// 6: a connection or subscription limit; the message names it.
    LimitReached,
    /// 7: the subscriber's queue is full; it is disconnected.
    TooSlow,
    /// 8: the token that authorised the connection has expired; it is closed.
    TokenExpired,
}

impl Code {
    /// The numeric code sent as `code`.
    pub fn number(self) -> u16 {
        match self {
            Code::Ok => 0,
            Code::TokenNotSet => 1,
            Code::InvalidToken => 2,
            Code::UserNotExists => 3,
            Code::NoAccess => 4,
            Code::InvalidRequest => 5,
            Code::LimitReached => 6,
            Code::TooSlow => 7,
            Code::TokenExpired => 8,
        }
    }

    /// The fixed message of codes 0–5 and 8 (6 and 7 carry a message naming the limit).
    ///
    /// The document lists code 5 as "Inavlid request" but its example answer, and docs/design/event-service.md,
    /// spell it "Invalid request"; the example's spelling is used.
    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "Ok",
            Code::TokenNotSet => "Token not set",
            Code::InvalidToken => "Invalid token",
            Code::UserNotExists => "User not exists",
            Code::NoAccess => "Not access for dataset",
            Code::InvalidRequest => "Invalid request",
            Code::LimitReached => "Limit reached",
            Code::TooSlow => "Too slow",
            Code::TokenExpired => "Token expired",
        }
    }
}

/// `{"status", "message", "code"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Answer {
    status: u16,
    message: String,
    code: u16,
}

impl Answer {
    /// The answer with the code's fixed message.
    pub(crate) fn of(code: Code) -> Answer {
        Answer::with_message(code, code.message().to_owned())
    }

    /// The answer with a message of its own (codes 6 and 7).
    pub(crate) fn with_message(code: Code, message: String) -> Answer {
        let status = if code == Code::Ok { 200 } else { 400 };
        Answer { status, message, code: code.number() }
    }

    /// The text frame.
    pub(crate) fn to_text(&self) -> Utf8Bytes {
        serde_json::to_string(self).expect("an answer always serialises").into()
    }
}

/// `attach` or `detach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Attach,
    Detach,
}

/// A request whose shape is valid (the token is not checked yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) auth: String,
    pub(crate) action: Action,
    pub(crate) event_type: String,
    /// `None` only for `notification` without an id.
    pub(crate) id: Option<String>,
    /// The optional tenant named by `event.appKey`.
    pub(crate) app_key: Option<String>,
}

impl Request {
    /// Parses a request. Refusals are code 1 (no `auth`) or 5 (anything else malformed).
    pub(crate) fn parse(text: &str) -> Result<Request, Code> {
        let value: Value = serde_json::from_str(text).map_err(|_| Code::InvalidRequest)?;
        let request = value.as_object().ok_or(Code::InvalidRequest)?;
        let auth = match request.get("auth") {
            None | Some(Value::Null) => return Err(Code::TokenNotSet),
            Some(Value::String(auth)) if auth.is_empty() => return Err(Code::TokenNotSet),
            Some(Value::String(auth)) => auth.clone(),
            Some(_) => return Err(Code::InvalidRequest),
        };
        let action = match request.get("action").and_then(Value::as_str) {
            Some("attach") => Action::Attach,
            Some("detach") => Action::Detach,
            _ => return Err(Code::InvalidRequest),
        };
        let event = request.get("event").and_then(Value::as_object).ok_or(Code::InvalidRequest)?;
        let text_field = |name: &str| match event.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Code::InvalidRequest),
        };
        let event_type = text_field("type")?.ok_or(Code::InvalidRequest)?;
        let id = text_field("id")?;
        if id.is_none() && event_type != crate::NOTIFICATION {
            return Err(Code::InvalidRequest);
        }
        let app_key = text_field("appKey")?;
        Ok(Request { auth, action, event_type, id, app_key })
    }
}

/// `{"type", "id", "data"}`, serialised once per published event and shared by every
/// subscriber's queue.
pub(crate) fn event_message(event_type: &str, id: &str, data: &Value) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Event<'a> {
        #[serde(rename = "type")]
        event_type: &'a str,
        id: &'a str,
        data: &'a Value,
    }
    serde_json::to_string(&Event { event_type, id, data }).expect("a JSON value always serialises").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_documents() {
        assert_eq!(Answer::of(Code::Ok).to_text().as_str(), r#"{"status":200,"message":"Ok","code":0}"#);
        assert_eq!(
            Answer::of(Code::InvalidRequest).to_text().as_str(),
            r#"{"status":400,"message":"Invalid request","code":5}"#
        );
        assert_eq!(
            Answer::of(Code::NoAccess).to_text().as_str(),
            r#"{"status":400,"message":"Not access for dataset","code":4}"#
        );
    }

    #[test]
    fn the_documents_request_parses_and_malformed_ones_are_code_5_or_1() {
        let documented = r#"{"auth": "eyJ0", "action": "attach", "event": {"type": "issueUpdate", "id": "610217e481f6fc54736209e0"}}"#;
        let request = Request::parse(documented).expect("valid");
        assert_eq!(request.action, Action::Attach);
        assert_eq!(request.id.as_deref(), Some("610217e481f6fc54736209e0"));
        assert_eq!(request.app_key, None);
        let notification = r#"{"auth": "t", "action": "detach", "event": {"type": "notification"}}"#;
        assert_eq!(Request::parse(notification).expect("valid").id, None);
        for (text, code) in [
            ("not json", Code::InvalidRequest),
            ("[1]", Code::InvalidRequest),
            (r#"{"action": "attach", "event": {"type": "a", "id": "b"}}"#, Code::TokenNotSet),
            (r#"{"auth": "", "action": "attach", "event": {"type": "a", "id": "b"}}"#, Code::TokenNotSet),
            (r#"{"auth": 5, "action": "attach", "event": {"type": "a", "id": "b"}}"#, Code::InvalidRequest),
            (r#"{"auth": "t", "action": "watch", "event": {"type": "a", "id": "b"}}"#, Code::InvalidRequest),
            (r#"{"auth": "t", "action": "attach"}"#, Code::InvalidRequest),
            (r#"{"auth": "t", "action": "attach", "event": {"id": "b"}}"#, Code::InvalidRequest),
            (r#"{"auth": "t", "action": "attach", "event": {"type": "StreamStatusEvent"}}"#, Code::InvalidRequest),
            (r#"{"auth": "t", "action": "attach", "event": {"type": "a", "id": 7}}"#, Code::InvalidRequest),
        ] {
            assert_eq!(Request::parse(text), Err(code), "{text}");
        }
    }

    #[test]
    fn event_messages_have_type_id_data_in_order() {
        let data = serde_json::json!({"name": "s1", "status": "PUBLISHING"});
        assert_eq!(
            event_message("StreamStatusEvent", "s1", &data).as_str(),
            r#"{"type":"StreamStatusEvent","id":"s1","data":{"name":"s1","status":"PUBLISHING"}}"#
        );
    }
}
