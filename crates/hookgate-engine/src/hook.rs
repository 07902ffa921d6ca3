//! A hook parsed once: what every step after the listener reads.
//!
//! The HTTP layer hands over the method, the body bytes and the `Authorization` header
//! ([`HookRequest`]). Once authentication passed, [`Hook::parse`] reads the body in one pass
//! that validates all of it and keeps only the fields hookgate itself acts on: `appKey`,
//! `sessionId`, `nodeId`, `status`, whether it carries a stream's fields, and the top-level
//! fields a tenant's `[[rest_api_initiated]]` matchers name. The full document is parsed only
//! when an answer needs it (an override, or the `restClientConfig` of a `connect`), through
//! [`Hook::document`], at most once per hook.

use hookgate_protocol::Method;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// A hook as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct HookRequest<'a> {
    /// The method: the last segment of the URL path.
    pub method: &'a str,
    /// The body bytes, exactly as received.
    pub body: &'a [u8],
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a [u8]>,
    /// Reception time, ms since the Unix epoch.
    pub received_ms: u64,
}

/// Malformed input: answered 400 before any tenant is involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHook {
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotObject,
    /// The body is not UTF-8 (JSON text must be).
    #[error("body is not valid UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The body is a JSON object, but its `appKey` or `sessionId` is unusable (not a string,
    /// given twice).
    #[error("body has an unusable appKey or sessionId: {0}")]
    BadEnvelope(String),
}

/// A hook after its one parse.
#[derive(Debug)]
pub struct Hook<'a> {
    /// The request it came from.
    pub request: HookRequest<'a>,
    /// The method, classified.
    pub method: Method<'a>,
    /// The body as text (the parse checked it is UTF-8).
    pub text: &'a str,
    /// The body's `appKey` (empty if none).
    pub app_key: String,
    /// The body's `sessionId` (empty if none).
    pub session_id: String,
    /// The body's `nodeId` if a string (empty otherwise): where `send-data` goes.
    pub node_id: String,
    /// The body's `status`, if a string.
    pub status: Option<String>,
    /// Whether the body has a stream's fields: `mediaSessionId`, or `name` with `published`.
    pub stream_fields: bool,
    /// The top-level fields named by the tenants' REST-API matchers, with their values.
    pub matched_fields: Map<String, Value>,
}

impl<'a> Hook<'a> {
    /// Parses `request`'s body, keeping the top-level fields named in `roots` for the
    /// REST-API matchers. Serde skips unknown string fields without checking their UTF-8, so
    /// the body is checked first.
    pub fn parse(request: HookRequest<'a>, roots: &[String]) -> Result<Hook<'a>, BadHook> {
        let body = request.body;
        let text = std::str::from_utf8(body).map_err(|err| BadHook::NotUtf8(err.valid_up_to()))?;
        count_parse();
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            // Tell "not JSON" from "JSON but not an object".
            return Err(match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => BadHook::NotObject,
                Err(err) => BadHook::NotJson(err.to_string()),
            });
        }
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let envelope = EnvelopeSeed { roots }
            .deserialize(&mut deserializer)
            .and_then(|envelope| deserializer.end().map(|()| envelope))
            .map_err(|err| match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => BadHook::BadEnvelope(err.to_string()),
                Err(_) => BadHook::NotJson(err.to_string()),
            })?;
        Ok(Hook {
            request,
            method: Method::classify(request.method),
            text,
            app_key: envelope.app_key.unwrap_or_default(),
            session_id: envelope.session_id.unwrap_or_default(),
            node_id: envelope.node_id.text().unwrap_or_default(),
            status: envelope.status.text(),
            stream_fields: envelope.media_session_id.present()
                || (envelope.name.present() && envelope.published.present()),
            matched_fields: envelope.matched,
        })
    }

    /// The whole body as a JSON object. The envelope parse skims what it does not need, so
    /// this full parse may still refuse it (a number out of range, a lone surrogate escape).
    pub fn document(&self) -> Result<Map<String, Value>, BadHook> {
        count_parse();
        serde_json::from_slice(self.request.body).map_err(|err| BadHook::NotJson(err.to_string()))
    }
}

/// The envelope of one body; unknown fields are validated and skipped.
#[derive(Default)]
struct Envelope {
    app_key: Option<String>,
    session_id: Option<String>,
    node_id: Field,
    status: Field,
    media_session_id: Field,
    name: Field,
    published: Field,
    matched: Map<String, Value>,
}

/// A field read for what it is, whatever its type: absent or `null`, a string, or another
/// value (or a string that does not decode).
#[derive(Default)]
enum Field {
    #[default]
    Absent,
    Text(String),
    Other,
}

impl Field {
    fn text(self) -> Option<String> {
        match self {
            Field::Text(text) => Some(text),
            Field::Absent | Field::Other => None,
        }
    }

    fn present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

impl Field {
    /// The field from its raw text, skimmed like the rest of the body: a string whose escapes
    /// do not decode (a lone surrogate) is `Other`, not an error.
    fn from_raw(raw: Option<&RawValue>) -> Field {
        match raw.map(RawValue::get) {
            None => Field::Absent,
            Some(text) if text.starts_with('"') => serde_json::from_str(text).map_or(Field::Other, Field::Text),
            Some(_) => Field::Other,
        }
    }
}

/// Reads an [`Envelope`], keeping the values of `roots`.
struct EnvelopeSeed<'r> {
    roots: &'r [String],
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Envelope, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(Key(key)) = map.next_key()? {
            if let Some(root) = self.roots.iter().find(|root| **root == key) {
                // A matcher's field: kept whole, and read for the envelope from the kept value.
                let raw: &RawValue = map.next_value()?;
                match serde_json::from_str::<Value>(raw.get()) {
                    Ok(value) => {
                        envelope.apply(&key, &value)?;
                        envelope.matched.insert(root.clone(), value);
                    }
                    // Not a value a matcher can equal (a lone surrogate): read as the envelope reads it.
                    Err(err) if matches!(key.as_ref(), "appKey" | "sessionId") => return Err(de::Error::custom(err)),
                    Err(_) => envelope.set(&key, Field::from_raw(Some(raw))),
                }
                continue;
            }
            match key.as_ref() {
                "appKey" => {
                    Envelope::first(&envelope.app_key, "appKey")?;
                    envelope.app_key = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                }
                "sessionId" => {
                    Envelope::first(&envelope.session_id, "sessionId")?;
                    envelope.session_id = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                }
                "nodeId" | "status" | "mediaSessionId" | "name" | "published" => {
                    let raw: Option<&RawValue> = map.next_value()?;
                    envelope.set(&key, Field::from_raw(raw));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

/// An object key, borrowed from the body unless it has escapes.
#[derive(serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl Envelope {
    /// Refuses a routing field (`appKey`, `sessionId`) given twice: which one counts would
    /// be ambiguous (`null` counts as given).
    fn first<E: de::Error>(slot: &Option<String>, name: &'static str) -> Result<(), E> {
        if slot.is_some() { Err(E::duplicate_field(name)) } else { Ok(()) }
    }

    /// Sets the envelope field `key` (if it is one) from a value kept for a matcher.
    fn apply<E: de::Error>(&mut self, key: &str, value: &Value) -> Result<(), E> {
        let route = |slot: &mut Option<String>, name| {
            Envelope::first(slot, name)?;
            *slot = Some(match value {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                _ => return Err(E::invalid_type(de::Unexpected::Other("a non-string value"), &"a string")),
            });
            Ok(())
        };
        match key {
            "appKey" => route(&mut self.app_key, "appKey"),
            "sessionId" => route(&mut self.session_id, "sessionId"),
            _ => {
                let field = match value {
                    Value::Null => Field::Absent,
                    Value::String(text) => Field::Text(text.clone()),
                    _ => Field::Other,
                };
                self.set(key, field);
                Ok(())
            }
        }
    }

    /// Sets the envelope field `key` (if it is one of the fields read, not the routing ones).
    fn set(&mut self, key: &str, field: Field) {
        match key {
            "nodeId" => self.node_id = field,
            "status" => self.status = field,
            "mediaSessionId" => self.media_session_id = field,
            "name" => self.name = field,
            "published" => self.published = field,
            _ => {}
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Full passes over a body on this thread: what the one-parse tests count.
    pub(crate) static PARSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn count_parse() {
    PARSES.with(|parses| parses.set(parses.get() + 1));
}

#[cfg(not(test))]
fn count_parse() {}

#[cfg(test)]
#[path = "tests/hook.rs"]
mod tests;
