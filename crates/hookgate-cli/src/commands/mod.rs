//! One module per subcommand, plus what they share.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod eval;
pub(crate) mod new;
pub(crate) mod reload;
pub(crate) mod serve;
pub(crate) mod test;

use anyhow::Context as _;
use hookgate_runtime::{Runtime, RuntimeConfig};

/// A multi-threaded tokio runtime for a subcommand.
pub(crate) fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// The wasm engine with default sizing, for the offline subcommands.
pub(crate) fn wasm_runtime() -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeConfig::default())
        .map_err(|err| anyhow::anyhow!("{err:#}"))
        .context("cannot start the wasm engine")
}

/// Logs to stderr, filtered by `HOOKGATE_LOG` (else `default`), as text or JSON lines: one
/// line per event, whatever its message and fields hold (see [`OneLine`]), without colours.
pub(crate) fn init_logging(default: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(|| OneLine(std::io::stderr()));
    if json {
        // One flat object a line: `timestamp`, `level`, `target`, `message` and the event's own
        // fields beside them (docs/operating/logs.md lists them); no span context.
        builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init();
    } else {
        builder.init();
    }
}

/// A log writer that keeps each event on one line: tracing-subscriber's `fmt` writes every
/// formatted event with one `write_all`, ending in `\n`; every control character before that
/// end (a `\n` or `\r` in a client's value, a policy's log line, a terminal escape) is written
/// escaped (`\n`, `\r`, `\x1b`), and so are the Unicode line breaks some log viewers split on
/// (U+0085, U+2028, U+2029 as `\u{2028}`), so no text can start a line of its own. Tabs are kept.
struct OneLine<W>(W);

/// The Unicode line breaks, and how they are written.
const UNICODE_BREAKS: [(&str, &str); 3] = [("\u{85}", "\\u{85}"), ("\u{2028}", "\\u{2028}"), ("\u{2029}", "\\u{2029}")];

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let (line, end) = match buf.strip_suffix(b"\n") {
            Some(line) => (line, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let escaped = |byte: u8| (byte < 0x20 && byte != b'\t') || byte == 0x7f;
        let unicode_break = |at: &[u8]| UNICODE_BREAKS.into_iter().find(|(brk, _)| at.starts_with(brk.as_bytes()));
        // The Unicode breaks start with 0xc2 or 0xe2: only then is a closer look needed.
        if !line.iter().any(|&byte| escaped(byte) || byte == 0xc2 || byte == 0xe2) {
            return self.0.write_all(buf);
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        let mut at = 0;
        while let Some(&byte) = line.get(at) {
            if let Some((brk, written)) = unicode_break(&line[at..]) {
                out.extend_from_slice(written.as_bytes());
                at += brk.len();
                continue;
            }
            match byte {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                byte if escaped(byte) => out.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
                byte => out.push(byte),
            }
            at += 1;
        }
        out.extend_from_slice(end);
        self.0.write_all(&out)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::OneLine;
    use std::io::Write as _;

    #[test]
    fn an_event_stays_on_one_line() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"INFO refused: 'a\nINFO forged\r\x1b[31m\tb'\n").unwrap();
        assert_eq!(out.0, b"INFO refused: 'a\\nINFO forged\\r\\x1b[31m\tb'\n");
        let mut unicode = OneLine(Vec::new());
        unicode.write_all("INFO a\u{2028}b\u{2029}c\u{85}d é €\n".as_bytes()).unwrap();
        assert_eq!(String::from_utf8(unicode.0).unwrap(), "INFO a\\u{2028}b\\u{2029}c\\u{85}d é €\n");
        let mut plain = OneLine(Vec::new());
        plain.write_all(b"INFO fine\n").unwrap();
        assert_eq!(plain.0, b"INFO fine\n");
    }
}
