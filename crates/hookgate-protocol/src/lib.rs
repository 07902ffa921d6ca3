//! The WCS REST hook protocol, as hookgate models it. Pure data and rules, no I/O.
//!
//! - [`method`]: every documented hook method with its kind and alias spellings
//!   (docs/protocol/wcs-reference.md §2).
//! - [`fallback`]: what WCS receives when a policy chain fails (`restOnError`, docs/protocol/wcs.md#failures-and-the-restonerror-fallback).
//! - [`patch`]: RFC 7396 merge patches limited to the declared overwritable fields.
//! - [`rest_client_config`]: the `restClientConfig` object added to allowed `connect` answers.

pub mod fallback;
pub mod method;
pub mod patch;
pub mod rest_client_config;

pub use fallback::{FallbackAnswer, OnError};
pub use method::{Method, MethodKind};

/// The host capabilities a manifest may grant a policy, by the names of their WIT interfaces
/// (`log` every policy has).
pub const CAPABILITIES: [&str; 3] = ["state", "notify", "send-data"];
