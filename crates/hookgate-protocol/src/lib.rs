//! The WCS REST hook protocol, as hookgate models it. Pure data and rules, no I/O.
//!
//! - [`method`]: a hook's method classified by the catalogue of every documented method with
//!   its kind and alias spellings (`hookgate-methods`, shared with the guest SDK).
//! - [`fallback`]: what WCS receives when a policy chain fails (`restOnError`, docs/protocol/wcs.md#failures-and-the-restonerror-fallback).
//! - [`capability`]: the host capabilities a manifest may grant a policy.
//! - [`patch`]: RFC 7396 merge patches limited to the declared overwritable fields.
//! - [`rest_client_config`]: the `restClientConfig` object added to allowed `connect` answers.

pub mod capability;
pub mod fallback;
pub mod method;
pub mod patch;
pub mod rest_client_config;

pub use capability::{Capability, Effect, EffectSink, Origin};
pub use fallback::{FallbackAnswer, OnError};
pub use method::{Method, MethodKind};
