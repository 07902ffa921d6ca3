//! The Rust guest SDK for hookgate policies.
//!
//! A hookgate policy is a WebAssembly component (world `hookgate:policy/policy@0.1.0`,
//! `wit/hookgate.wit`) that decides one Flashphoner WCS REST hook at a time.
//! With this SDK a policy is one function:
//!
//! ```
//! use hookgate_sdk::{Hook, Verdict};
//!
//! fn evaluate(hook: &Hook) -> Result<Verdict, String> {
//!     match hook.str_field("name") {
//!         Some(name) if name.starts_with("forbidden_") => {
//!             Ok(Verdict::forbid(format!("stream name '{name}' is forbidden")))
//!         }
//!         _ => Ok(Verdict::Allow),
//!     }
//! }
//!
//! hookgate_sdk::policy!(evaluate);
//! # fn main() {}
//! ```
//!
//! Build the crate (`crate-type = ["cdylib"]`) with `hookgate build PLUGIN_DIR -o OUT.wasm`,
//! which compiles it for `wasm32-unknown-unknown` and turns the core module into a component.
//! Natively (`cargo test`) the macro exports nothing, [`log`] writes to a capture buffer and
//! stderr, and [`testing`] runs JSON case files against the policy function.
//!
//! # Performance rules
//!
//! hookgate instantiates a policy afresh for every hook; the whole wasm budget is a few µs.
//! * Read only what you need: [`Hook::str_field`] / [`Hook::str_at`] scan the payload
//!   without building a tree; [`Hook::json`] is the full parse, for when you really need it.
//! * On wasm32 the SDK's global allocator serves allocations from a 1 MiB static arena
//!   (talc), so a normal call never executes `memory.grow`; only if the arena is exhausted
//!   does it fall back to growing memory.
//! * Return small verdicts: an override is a merge patch of the fields that change
//!   ([`Verdict::set_field`], [`Patch`]), not the whole document.
//! * Globals do not survive from one hook to the next.

#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]
#![warn(missing_docs)]

use std::borrow::Cow;

use serde::de::DeserializeOwned;

pub mod capabilities;
pub mod json;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod guest;

pub use capabilities::{ClaimOutcome, ClaimPool, Scope, StateError, notify, send_data, state};
pub use json::RawValue;

/// The kind of a WCS REST method; it decides what a denial or a failure means.
/// [`MethodKind::of`] gives the kind the host gives a method, from the host's own catalogue.
pub use hookgate_methods::MethodKind;

/// One WCS hook as the policy sees it (the WIT `hook` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The method name as WCS sent it (the last path segment), e.g. `publishStream`.
    pub method: String,
    /// The kind of that method.
    pub kind: MethodKind,
    /// The `appKey` of the body; empty when the body has none.
    pub app_key: String,
    /// The `sessionId` of the body; empty when the body has none.
    pub session_id: String,
    /// The JSON body, exactly as received (or as patched by earlier policies of the chain).
    pub payload: String,
    /// This policy's settings as a JSON document (`{}` when none).
    pub settings: String,
    /// When hookgate received the hook, in milliseconds since the Unix epoch.
    pub received_ms: u64,
}

impl Hook {
    /// A hook for tests: the kind the host gives the method ([`MethodKind::of`]), `app_key` and
    /// `session_id` taken from the payload's `appKey` / `sessionId`, settings `{}`,
    /// `received_ms` = [`testing::DEFAULT_RECEIVED_MS`](crate::testing::DEFAULT_RECEIVED_MS).
    pub fn new(method: impl Into<String>, payload: impl Into<String>) -> Hook {
        let method = method.into();
        let payload = payload.into();
        let [app_key, session_id] = json::fields(&payload, ["appKey", "sessionId"])
            .unwrap_or([None, None])
            .map(|v| v.and_then(|v| v.as_str()).unwrap_or_default().into_owned());
        Hook {
            kind: MethodKind::of(&method),
            method,
            app_key,
            session_id,
            payload,
            settings: "{}".to_owned(),
            received_ms: 1_767_225_600_000, // = testing::DEFAULT_RECEIVED_MS
        }
    }

    /// Replaces the kind.
    pub fn with_kind(mut self, kind: MethodKind) -> Hook {
        self.kind = kind;
        self
    }

    /// Replaces the settings (a JSON document).
    pub fn with_settings(mut self, settings: impl Into<String>) -> Hook {
        self.settings = settings.into();
        self
    }

    /// Replaces the reception time (ms since the Unix epoch).
    pub fn with_received_ms(mut self, received_ms: u64) -> Hook {
        self.received_ms = received_ms;
        self
    }

    /// The reception time in whole seconds since the Unix epoch.
    pub fn received_s(&self) -> u64 {
        self.received_ms / 1000
    }

    /// The top-level payload field `key` as a string (unescaped; borrowed when possible).
    ///
    /// `None` when the field is absent, is not a string, or the payload is not valid JSON.
    /// When the key is duplicated, the last occurrence wins (as everywhere else in hookgate).
    pub fn str_field(&self, key: &str) -> Option<Cow<'_, str>> {
        self.field(key)?.as_str()
    }

    /// The string at a path of object keys, e.g. `&["custom", "token"]` for `custom.token`.
    ///
    /// `None` when a step is missing or not an object, the value is not a string, or the
    /// payload is not valid JSON.
    pub fn str_at(&self, path: &[&str]) -> Option<Cow<'_, str>> {
        self.field_at(path)?.as_str()
    }

    /// The top-level payload field `key` as raw JSON (any type). `None` when absent or when
    /// the payload is not valid JSON.
    pub fn field(&self, key: &str) -> Option<RawValue<'_>> {
        json::field(&self.payload, key).ok().flatten()
    }

    /// The value at a path of object keys, as raw JSON.
    pub fn field_at(&self, path: &[&str]) -> Option<RawValue<'_>> {
        json::path(&self.payload, path).ok().flatten()
    }

    /// Several top-level fields in one pass over the payload (all `None` if it is not valid JSON).
    pub fn fields<const N: usize>(&self, keys: [&str; N]) -> [Option<RawValue<'_>>; N] {
        json::fields(&self.payload, keys).unwrap_or([None; N])
    }

    /// Like [`Hook::field`], but tells a malformed payload apart from a missing field.
    pub fn try_field(&self, key: &str) -> Result<Option<RawValue<'_>>, json::Error> {
        json::field(&self.payload, key)
    }

    /// Parses the whole payload (slow path: use only when a policy needs the full document).
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.payload).map_err(|e| format!("invalid payload JSON: {e}"))
    }

    /// Deserializes this policy's settings.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, String> {
        parse_settings(&self.settings)
    }
}

/// Deserializes settings JSON into `T`, with an error message fit for `validate-settings`.
/// Empty input counts as `{}`.
pub fn parse_settings<T: DeserializeOwned>(settings: &str) -> Result<T, String> {
    let settings = if settings.trim().is_empty() { "{}" } else { settings };
    serde_json::from_str(settings).map_err(|e| format!("invalid settings: {e}"))
}

/// What a policy decides about one hook (the WIT `verdict` variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it go on, untouched.
    Allow,
    /// Stop it with this status (4xx or 5xx) and reason.
    Deny {
        /// HTTP status, 400..=599.
        status: u16,
        /// Why; shown to the WCS client / logs. Never put secrets here.
        reason: String,
    },
    /// Change fields: an RFC 7396 JSON merge patch (a JSON *object*, e.g. `{"name":"cam1"}`)
    /// applied to the payload. Only fields the tenant declares overwritable may change.
    Override(String),
}

impl Verdict {
    /// A denial with `status` (should be 4xx or 5xx; the host refuses anything else).
    pub fn deny(status: u16, reason: impl Into<String>) -> Verdict {
        Verdict::Deny { status, reason: reason.into() }
    }

    /// A 403 Forbidden denial.
    pub fn forbid(reason: impl Into<String>) -> Verdict {
        Verdict::deny(403, reason)
    }

    /// An override with this merge patch (must be a JSON object).
    pub fn patch(patch: serde_json::Value) -> Verdict {
        Verdict::Override(patch.to_string())
    }

    /// An override that sets one top-level field: `{"key": value}`.
    pub fn set_field(key: &str, value: impl serde::Serialize) -> Verdict {
        Patch::new().set(key, value).into_verdict()
    }

    /// Whether this is [`Verdict::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow)
    }
}

/// A builder for small merge patches, written straight to JSON text.
///
/// ```
/// use hookgate_sdk::{Patch, Verdict};
/// let v = Patch::new().set("name", "cam1").remove("record").into_verdict();
/// assert_eq!(v, Verdict::Override(r#"{"name":"cam1","record":null}"#.into()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    buf: String,
}

impl Patch {
    /// An empty patch.
    pub fn new() -> Patch {
        Patch::default()
    }

    fn key(&mut self, key: &str) {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        self.buf.push_str(&json::quote(key));
        self.buf.push(':');
    }

    /// Sets `key` to `value` (any serializable value; a nested object merges recursively).
    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> Patch {
        self.key(key);
        match serde_json::to_string(&value) {
            Ok(v) => self.buf.push_str(&v),
            // Only maps with non-string keys fail; patch values are plain data.
            Err(_) => self.buf.push_str("null"),
        }
        self
    }

    /// Sets `key` to a string value (no serde round trip).
    pub fn set_str(mut self, key: &str, value: &str) -> Patch {
        self.key(key);
        self.buf.push_str(&json::quote(value));
        self
    }

    /// Removes `key` from the payload (`"key": null` in merge-patch terms).
    pub fn remove(mut self, key: &str) -> Patch {
        self.key(key);
        self.buf.push_str("null");
        self
    }

    /// Whether nothing was set.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The patch as JSON text (`{}` when empty).
    pub fn into_json(mut self) -> String {
        if self.buf.is_empty() {
            return "{}".to_owned();
        }
        self.buf.push('}');
        self.buf
    }

    /// [`Verdict::Override`] with this patch, or [`Verdict::Allow`] when it is empty.
    pub fn into_verdict(self) -> Verdict {
        if self.is_empty() { Verdict::Allow } else { Verdict::Override(self.into_json()) }
    }
}

/// The default `validate-settings`: accepts a JSON object (or empty settings), refuses anything else.
pub fn accept_object_settings(settings: &str) -> Result<(), String> {
    if settings.trim().is_empty() {
        return Ok(());
    }
    match json::validate(settings) {
        Err(e) => Err(format!("invalid settings: {e}")),
        Ok(()) if settings.trim_start().starts_with('{') => Ok(()),
        Ok(()) => Err("invalid settings: expected a JSON object".to_owned()),
    }
}

/// Makes a policy out of one function.
///
/// ```ignore
/// fn evaluate(hook: &hookgate_sdk::Hook) -> Result<hookgate_sdk::Verdict, String> { … }
/// fn check(settings: &str) -> Result<(), String> { … }
///
/// hookgate_sdk::policy!(evaluate);                            // settings: any JSON object
/// hookgate_sdk::policy!(evaluate, validate_settings = check); // settings checked by `check`
/// ```
///
/// On wasm32 this expands to the component exports `evaluate` and `validate-settings`
/// (the wit-bindgen `Guest` impl); with the `panic-log` feature, also a panic hook that logs
/// the panic message at `error` before the instance traps. Natively it expands to nothing (call your functions directly,
/// or through [`testing`]).
#[macro_export]
macro_rules! policy {
    ($evaluate:path $(,)?) => {
        $crate::policy!($evaluate, validate_settings = $crate::accept_object_settings);
    };
    ($evaluate:path, validate_settings = $validate:path $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct HookgatePolicy;
            impl $crate::__private::Guest for HookgatePolicy {
                fn evaluate(
                    hook: $crate::__private::WitHook,
                ) -> ::core::result::Result<$crate::__private::WitVerdict, $crate::__private::String> {
                    $crate::__private::evaluate(hook, $evaluate)
                }
                fn validate_settings(
                    settings: $crate::__private::String,
                ) -> ::core::result::Result<(), $crate::__private::String> {
                    $crate::__private::validate_settings(settings, $validate)
                }
            }
    $crate::__private::export!(HookgatePolicy with_types_in $crate::__private::bindings);
        };
        // Type-check the functions natively too, so `cargo test` catches signature errors.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _: fn(&$crate::Hook) -> ::core::result::Result<$crate::Verdict, ::std::string::String> = $evaluate;
            let _: fn(&str) -> ::core::result::Result<(), ::std::string::String> = $validate;
        };
    };
}

/// Implementation details of [`policy!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::guest::{Guest, WitHook, WitVerdict, bindings, evaluate, export, validate_settings};
    pub use std::string::String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_accessors() {
        let h = Hook::new(
            "publishStream",
            r#"{"appKey":"app","sessionId":"/1.2.3.4:5/6.7.8.9:8443","name":"C\u0061m","custom":{"token":"t"},"n":3}"#,
        );
        assert_eq!(h.kind, MethodKind::Direct);
        assert_eq!(h.app_key, "app");
        assert_eq!(h.session_id, "/1.2.3.4:5/6.7.8.9:8443");
        assert_eq!(h.received_ms, testing::DEFAULT_RECEIVED_MS);
        assert_eq!(h.received_s(), testing::DEFAULT_RECEIVED_MS / 1000);
        assert_eq!(h.str_field("name").as_deref(), Some("Cam"));
        assert_eq!(h.str_at(&["custom", "token"]).as_deref(), Some("t"));
        assert_eq!(h.str_field("n"), None);
        assert_eq!(h.field("n").and_then(|v| v.as_i64()), Some(3));
        let [a, b] = h.fields(["name", "missing"]);
        assert_eq!(a.unwrap().raw(), r#""C\u0061m""#);
        assert!(b.is_none());
        assert_eq!(h.json().unwrap()["custom"]["token"], "t");
        assert!(h.try_field("x").unwrap().is_none());

        let bad = Hook::new("connect", "{oops");
        assert_eq!(bad.kind, MethodKind::Connect);
        assert_eq!(bad.app_key, "");
        assert_eq!(bad.str_field("name"), None);
        assert!(bad.try_field("name").is_err());
        assert!(bad.json().unwrap_err().starts_with("invalid payload JSON"));
    }

    #[test]
    fn kinds() {
        assert_eq!(Hook::new("connect", "{}").kind, MethodKind::Connect);
        assert_eq!(Hook::new("OnCallEvent", "{}").kind, MethodKind::Incoming);
        assert_eq!(Hook::new("StreamStatusEvent", "{}").kind, MethodKind::Event);
        assert_eq!(Hook::new("playStream", "{}").kind, MethodKind::Direct);
        assert_eq!(Hook::new("OnDataEvent", "{}").kind, MethodKind::Direct, "as on the host");
        assert_eq!(MethodKind::Incoming.to_string(), "incoming");
    }

    #[test]
    fn settings() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct S {
            #[serde(default)]
            x: u8,
        }
        let h = Hook::new("m", "{}").with_settings(r#"{"x":4}"#);
        assert_eq!(h.settings::<S>().unwrap(), S { x: 4 });
        assert_eq!(parse_settings::<S>("  ").unwrap(), S { x: 0 });
        assert!(parse_settings::<S>(r#"{"x":"no"}"#).unwrap_err().starts_with("invalid settings:"));
        assert!(accept_object_settings("{}").is_ok());
        assert!(accept_object_settings("").is_ok());
        assert!(accept_object_settings("[1]").is_err());
        assert!(accept_object_settings("{").is_err());
    }

    #[test]
    fn verdicts_and_patches() {
        assert_eq!(Verdict::forbid("no"), Verdict::Deny { status: 403, reason: "no".into() });
        assert_eq!(Verdict::deny(451, "x"), Verdict::Deny { status: 451, reason: "x".into() });
        assert!(Verdict::Allow.is_allow());
        assert_eq!(Verdict::patch(serde_json::json!({"name": "a"})), Verdict::Override(r#"{"name":"a"}"#.into()));
        assert_eq!(Verdict::set_field("na\"me", "q\"uote"), Verdict::Override(r#"{"na\"me":"q\"uote"}"#.into()));
        assert_eq!(Verdict::set_field("n", 5), Verdict::Override(r#"{"n":5}"#.into()));
        let p = Patch::new().set_str("name", "cam").set("custom", serde_json::json!({"room": "r"})).remove("record");
        assert_eq!(p.into_json(), r#"{"name":"cam","custom":{"room":"r"},"record":null}"#);
        assert_eq!(Patch::new().into_json(), "{}");
        assert_eq!(Patch::new().into_verdict(), Verdict::Allow);
    }

    #[test]
    fn log_capture() {
        let _ = log::take_captured();
        log::warn("careful");
        log::info("fyi");
        assert_eq!(
            log::take_captured(),
            [(log::Level::Warn, "careful".to_owned()), (log::Level::Info, "fyi".to_owned())]
        );
        assert!(log::take_captured().is_empty());
        assert_eq!(log::Level::parse("warning"), Some(log::Level::Warn));
        assert_eq!(log::Level::parse("loud"), None);
    }
}
