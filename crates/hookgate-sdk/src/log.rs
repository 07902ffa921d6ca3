//! Logging into hookgate's log (the WIT `host.log` import).
//!
//! The host tags each line with tenant, policy and method. On wasm32 each call is one
//! host call; natively (tests) lines go to a per-thread capture buffer (see [`take_captured`])
//! and to stderr.

use std::fmt;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

impl Level {
    /// The lowercase name (`trace` … `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses a lowercase level name.
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes one line at `level`.
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}

/// Writes one line at `trace`.
pub fn trace(message: &str) {
    log(Level::Trace, message)
}

/// Writes one line at `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Writes one line at `info`.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Writes one line at `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Writes one line at `error`.
pub fn error(message: &str) {
    log(Level::Error, message)
}

/// Natively: takes (and clears) the lines logged so far on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_captured() -> Vec<(Level, String)> {
    imp::CAPTURED.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::guest::bindings::hookgate::policy::host::{self, Level as L};

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => L::Trace,
            Level::Debug => L::Debug,
            Level::Info => L::Info,
            Level::Warn => L::Warn,
            Level::Error => L::Error,
        };
        host::log(level, message)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use std::cell::RefCell;

    thread_local! {
        pub(super) static CAPTURED: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn log(level: Level, message: &str) {
        eprintln!("[policy {level}] {message}");
        CAPTURED.with(|c| c.borrow_mut().push((level, message.to_owned())));
    }
}
