//! What WCS receives when a policy chain fails: the `restOnError` table of docs/protocol/wcs.md#failures-and-the-restonerror-fallback.

use crate::MethodKind;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A method's reaction to a failed chain, named as WCS names `restOnError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OnError {
    /// Fail the operation: WCS stops it (direct, incoming) or reports an `ErrorEvent` (event).
    #[serde(rename = "FAIL")]
    Fail,
    /// Log and let the operation go on (WCS's default). `connect` still fails closed.
    #[serde(rename = "LOG")]
    #[default]
    Log,
}

impl OnError {
    /// The WCS spelling, `FAIL` or `LOG`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Fail => "FAIL",
            OnError::Log => "LOG",
        }
    }
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer a failed chain produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackAnswer {
    /// Refuse with this status and a JSON error body.
    Refuse(u16),
    /// Answer 200 with the received body, untouched.
    Echo,
}

/// The fallback for a failed chain on a method of `kind` configured with `on_error`.
///
/// | on_error | connect | direct | event | incoming |
/// |---|---|---|---|---|
/// | FAIL | 403 | 403 | 500 | 403 |
/// | LOG  | 403 | echo | echo | echo |
pub fn fallback(kind: MethodKind, on_error: OnError) -> FallbackAnswer {
    match (on_error, kind) {
        (_, MethodKind::Connect) => FallbackAnswer::Refuse(403),
        (OnError::Fail, MethodKind::Event) => FallbackAnswer::Refuse(500),
        (OnError::Fail, MethodKind::Direct | MethodKind::Incoming) => FallbackAnswer::Refuse(403),
        (OnError::Log, _) => FallbackAnswer::Echo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_table() {
        use FallbackAnswer::*;
        use MethodKind::*;
        let cells = [
            (OnError::Fail, Connect, Refuse(403)),
            (OnError::Fail, Direct, Refuse(403)),
            (OnError::Fail, Event, Refuse(500)),
            (OnError::Fail, Incoming, Refuse(403)),
            (OnError::Log, Connect, Refuse(403)),
            (OnError::Log, Direct, Echo),
            (OnError::Log, Event, Echo),
            (OnError::Log, Incoming, Echo),
        ];
        for (on_error, kind, expected) in cells {
            assert_eq!(fallback(kind, on_error), expected, "{on_error} × {kind}");
        }
    }
}
