//! Errors of the policy tree.

use std::path::PathBuf;

/// A manifest that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file the tenant folder names cannot be used: outside the folder, not a regular file,
    /// too large or unreadable.
    #[error("{}: {error}", path.display())]
    File {
        /// The file that names it (the manifest), or the file itself.
        path: PathBuf,
        /// The rule it breaks.
        error: crate::FileError,
    },
    /// The TOML is malformed or has an unknown key or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// A key has a value that parses but is not acceptable.
    #[error("{}: {key}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `methods.publishStream.chain[1]`.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
}

/// A TOML error as `TOML parse error at line L, column C: message`, without the source lines
/// the parser's own `Display` quotes.
pub(crate) fn toml_error(err: &toml::de::Error, text: &str) -> String {
    let message = err.message().trim_end();
    let Some(span) = err.span() else { return format!("TOML parse error: {message}") };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    format!("TOML parse error at line {line}, column {column}: {message}")
}
