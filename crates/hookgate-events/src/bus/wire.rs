//! The bus's message format: one Redis pub/sub message per event.
//!
//! ```text
//! ["hook","<appKey>","<event type>"]\n<the hook body, as received>
//! ["event","<appKey>","<event type>","<id>"]\n<data, JSON>
//! ```
//!
//! A header, a JSON array on one line (compact JSON never contains a raw newline, so the
//! first `\n` ends it whatever the strings hold), then the payload bytes. A hook's body is
//! carried as it came, neither parsed nor escaped: the sender pays a copy, and each receiver
//! parses it only if one of its connections watches that event type of that tenant, as a
//! single instance does. `event` carries what a policy publishes (`notify`) with its id.
//!
//! The first element names the kind and its version: a later incompatible format takes a
//! new name, which instances of this version count as undecodable rather than misread.

use serde_json::Value;
use std::fmt;

const HOOK: &str = "hook";
const EVENT: &str = "event";

/// An event on its way to Redis, as handed over by the publishing hub.
#[derive(Debug, PartialEq)]
pub(crate) enum BusEvent {
    /// A WCS event hook: decoded on each receiver by the local hook path.
    Hook {
        app_key: String,
        /// The canonical event type (never an alias: the sender resolved it).
        event_type: &'static str,
        body: String,
    },
    /// An event with its type and id known (policy notifications).
    Event { app_key: String, event_type: String, id: String, data: Value },
}

/// A message read from Redis; a hook's body borrows the message.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming<'a> {
    /// A hook of a known event type: its type and the payload field that holds its id.
    Hook { app_key: String, event_type: (&'static str, &'static str), body: &'a str },
    /// An event, its data parsed.
    Event { app_key: String, event_type: String, id: String, data: Value },
}

/// Why a message on the channel is not one of ours.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// No newline: there is no header.
    NoHeader,
    /// The header is not a JSON array of strings.
    Header,
    /// The header's kind or arity is not one this version knows.
    Kind(String),
    /// A hook whose method is not a WCS event hook.
    NotAnEvent(String),
    /// A hook body that is not UTF-8.
    Body,
    /// Event data that is not JSON.
    Data,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NoHeader => f.write_str("no header line"),
            DecodeError::Header => f.write_str("the header is not a JSON array of strings"),
            DecodeError::Kind(kind) => write!(f, "unknown kind or arity {kind:?}"),
            DecodeError::NotAnEvent(method) => write!(f, "hook {method:?} is not an event"),
            DecodeError::Body => f.write_str("the hook body is not UTF-8"),
            DecodeError::Data => f.write_str("the event data is not JSON"),
        }
    }
}

/// The message for `event`.
pub(crate) fn encode(event: &BusEvent) -> Vec<u8> {
    let mut bytes = Vec::new();
    let written = match event {
        BusEvent::Hook { app_key, event_type, body } => {
            bytes.reserve(body.len() + app_key.len() + event_type.len() + 16);
            serde_json::to_writer(&mut bytes, &(HOOK, app_key, event_type)).map(|()| {
                bytes.push(b'\n');
                bytes.extend_from_slice(body.as_bytes());
            })
        }
        BusEvent::Event { app_key, event_type, id, data } => {
            serde_json::to_writer(&mut bytes, &(EVENT, app_key, event_type, id)).and_then(|()| {
                bytes.push(b'\n');
                serde_json::to_writer(&mut bytes, data)
            })
        }
    };
    // Strings and a `Value` (whose map keys are strings) written to a Vec cannot fail.
    written.expect("strings and JSON values serialise to a Vec");
    bytes
}

/// Reads a message from the channel.
pub(crate) fn decode(message: &[u8]) -> Result<Incoming<'_>, DecodeError> {
    let newline = message.iter().position(|&b| b == b'\n').ok_or(DecodeError::NoHeader)?;
    let (header, payload) = (&message[..newline], &message[newline + 1..]);
    let header: Vec<String> = serde_json::from_slice(header).map_err(|_| DecodeError::Header)?;
    let mut fields = header.into_iter();
    let kind = fields.next().unwrap_or_default();
    match (kind.as_str(), fields.next(), fields.next(), fields.next(), fields.next()) {
        (HOOK, Some(app_key), Some(method), None, None) => {
            let event_type = crate::hooks::event_type(&method).ok_or(DecodeError::NotAnEvent(method))?;
            let body = std::str::from_utf8(payload).map_err(|_| DecodeError::Body)?;
            Ok(Incoming::Hook { app_key, event_type, body })
        }
        (EVENT, Some(app_key), Some(event_type), Some(id), None) => {
            let data = serde_json::from_slice(payload).map_err(|_| DecodeError::Data)?;
            Ok(Incoming::Event { app_key, event_type, id, data })
        }
        _ => Err(DecodeError::Kind(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_hook_travels_as_its_raw_body_behind_a_one_line_header() {
        let body = "{\"appKey\":\"a\",\n \"name\":\"s1\"}";
        let hook = BusEvent::Hook { app_key: "app\"1\n".into(), event_type: "StreamStatusEvent", body: body.into() };
        let bytes = encode(&hook);
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("UTF-8"),
            format!("[\"hook\",\"app\\\"1\\n\",\"StreamStatusEvent\"]\n{body}")
        );
        assert_eq!(
            decode(&bytes),
            Ok(Incoming::Hook { app_key: "app\"1\n".into(), event_type: ("StreamStatusEvent", "name"), body })
        );
    }

    #[test]
    fn an_event_travels_with_its_type_id_and_data() {
        let data = json!({"text": "a\nb", "n": [1, 2]});
        let event =
            BusEvent::Event { app_key: "app1".into(), event_type: "notification".into(), id: "n1".into(), data };
        let bytes = encode(&event);
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("UTF-8"),
            "[\"event\",\"app1\",\"notification\",\"n1\"]\n{\"text\":\"a\\nb\",\"n\":[1,2]}"
        );
        let BusEvent::Event { app_key, event_type, id, data } = event else { unreachable!() };
        assert_eq!(decode(&bytes), Ok(Incoming::Event { app_key, event_type, id, data }));
    }

    #[test]
    fn an_alias_is_resolved_and_a_body_that_is_not_json_is_left_to_the_hook_path() {
        assert_eq!(
            decode(b"[\"hook\",\"a\",\"ErrorStatusEvent\"]\nnot JSON"),
            Ok(Incoming::Hook { app_key: "a".into(), event_type: ("ErrorEvent", "sessionId"), body: "not JSON" })
        );
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        let cases: [(&[u8], DecodeError); 9] = [
            (b"garbage", DecodeError::NoHeader),
            (b"{\"hook\":1}\n{}", DecodeError::Header),
            (b"[\"hook\",1,2]\n{}", DecodeError::Header),
            (b"[]\n{}", DecodeError::Kind(String::new())),
            (b"[\"hook2\",\"a\",\"StreamStatusEvent\"]\n{}", DecodeError::Kind("hook2".into())),
            (b"[\"event\",\"a\",\"t\"]\n{}", DecodeError::Kind("event".into())),
            (b"[\"hook\",\"a\",\"publishStream\"]\n{}", DecodeError::NotAnEvent("publishStream".into())),
            (b"[\"hook\",\"a\",\"StreamStatusEvent\"]\n\xff", DecodeError::Body),
            (b"[\"event\",\"a\",\"t\",\"i\"]\n{", DecodeError::Data),
        ];
        for (message, error) in cases {
            assert_eq!(decode(message), Err(error), "{}", String::from_utf8_lossy(message));
        }
    }
}
