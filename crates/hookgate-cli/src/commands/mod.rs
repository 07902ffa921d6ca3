//! One module per subcommand, plus what they share.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod eval;
pub(crate) mod new;
pub(crate) mod reload;
pub(crate) mod serve;
pub(crate) mod test;

use anyhow::Context as _;
use hookgate_engine::TRACE_TARGET;
use hookgate_runtime::{Runtime, RuntimeConfig};
use hookgate_server::Traces;

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
    init_logging_with_traces(default, json, None);
}

/// [`init_logging`], and the hook spans exported by `traces` when given.
pub(crate) fn init_logging_with_traces(default: &str, json: bool, traces: Option<&Traces>) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    subscriber(default, json, traces).init();
}

/// The log lines and, given `traces`, its exporter: each layer with a filter of its own. The hook
/// path's spans ([`TRACE_TARGET`]) go to the exporter alone (the log never shows them); without
/// it nothing enables them, so none is created.
fn subscriber(default: &str, json: bool, traces: Option<&Traces>) -> Box<dyn tracing::Subscriber + Send + Sync> {
    use tracing_subscriber::layer::SubscriberExt as _;
    match traces {
        Some(traces) => Box::new(tracing_subscriber::registry().with(traces.layer()).with(log_lines(default, json))),
        None => Box::new(tracing_subscriber::registry().with(log_lines(default, json))),
    }
}

/// The log's layer: stderr, filtered by `HOOKGATE_LOG` (else `default`), never a hook span.
fn log_lines<S>(default: &str, json: bool) -> impl tracing_subscriber::Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{FilterExt as _, FilterFn, LevelFilter};
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        // A hint for the exclusion too: `And` of a hint and none is none (every level), which
        // would make every disabled event and `log` record reach the filters.
        .and(FilterFn::new(|meta| meta.target() != TRACE_TARGET).with_max_level_hint(LevelFilter::TRACE));
    let lines = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(|| OneLine(std::io::stderr()));
    let lines = if json {
        // One flat object a line: `timestamp`, `level`, `target`, `message` and the event's own
        // fields beside them (docs/operating/logs.md lists them); no span context.
        lines.json().flatten_event(true).with_current_span(false).with_span_list(false).boxed()
    } else {
        lines.boxed()
    };
    lines.with_filter(filter)
}

/// `text` as one line, escaped as [`OneLine`] escapes a log event: for text from a tenant folder
/// or a server that a command prints (to a terminal, or to the journal under systemd).
pub(crate) fn one_line(text: &str) -> String {
    use std::io::Write as _;
    let mut out = OneLine(Vec::with_capacity(text.len()));
    // Writing into a Vec cannot fail; escaping keeps the bytes UTF-8.
    let _ = out.write_all(text.trim_end().as_bytes());
    String::from_utf8_lossy(&out.0).into_owned()
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
    use super::{OneLine, TRACE_TARGET, subscriber};
    use std::io::Write as _;

    /// Without the trace exporter no hook span is created (the log's filter never enables
    /// them, at any level), while log events still are.
    #[test]
    fn without_traces_hook_spans_are_disabled() {
        for level in ["info", "trace"] {
            tracing::subscriber::with_default(subscriber(level, false, None), || {
                assert!(tracing::info_span!(target: TRACE_TARGET, "hook").is_disabled(), "{level}");
                assert!(!tracing::info_span!("other").is_disabled(), "{level}");
                assert!(tracing::event_enabled!(tracing::Level::INFO), "{level}");
            });
            // The log's level bounds what reaches any filter (and the `log` records taken in).
            let hint = subscriber(level, false, None).max_level_hint();
            assert_eq!(hint, Some(level.parse().unwrap()), "{level}");
        }
    }

    #[test]
    fn an_event_stays_on_one_line() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"INFO refused: 'a\nINFO forged\r\x1b[31m\tb'\n").unwrap();
        assert_eq!(out.0, b"INFO refused: 'a\\nINFO forged\\r\\x1b[31m\tb'\n");
        assert_eq!(super::one_line("a\nforged\u{2028}b\n"), "a\\nforged\\u{2028}b");
        let mut unicode = OneLine(Vec::new());
        unicode.write_all("INFO a\u{2028}b\u{2029}c\u{85}d é €\n".as_bytes()).unwrap();
        assert_eq!(String::from_utf8(unicode.0).unwrap(), "INFO a\\u{2028}b\\u{2029}c\\u{85}d é €\n");
        let mut plain = OneLine(Vec::new());
        plain.write_all(b"INFO fine\n").unwrap();
        assert_eq!(plain.0, b"INFO fine\n");
    }
}
