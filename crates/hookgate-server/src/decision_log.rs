//! The decision log: one JSON line per hook, written by its own thread so that a slow disk
//! never slows a hook. Lines carry no payload and no header, so no token or `Authorization`
//! value can reach it.

use hookgate_engine::{Cause, Decision, bounded_text};
use serde::Serialize;
use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::SystemTime;

/// Lines waiting for the writer; past this, lines are dropped and counted.
const QUEUE: usize = 16_384;
/// Bytes of lines waiting for the writer; past this, lines are dropped and counted.
const QUEUE_BYTES: usize = 8 << 20;
/// Longest method name a line repeats (the last URL segment, chosen by the client).
const MAX_METHOD_BYTES: usize = 128;
/// Longest session id a line repeats (chosen by the body).
const MAX_SESSION_BYTES: usize = 256;
/// Longest note a line repeats (a policy's error text is already cut to 1 KiB).
const MAX_NOTE_BYTES: usize = 2048;

/// Where decision lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionTarget {
    /// Nowhere.
    Off,
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

/// A handle to the writer thread.
#[derive(Clone)]
pub struct DecisionLog {
    lines: SyncSender<String>,
    /// Bytes queued and not yet written.
    queued: Arc<AtomicUsize>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    tenant: &'a str,
    generation: u64,
    method: Cow<'a, str>,
    kind: &'a str,
    session_id: Cow<'a, str>,
    policies: Vec<Run<'a>>,
    status: u16,
    outcome: &'a str,
    fallback: Option<&'a str>,
    note: Option<Cow<'a, str>>,
    latency_us: u64,
}

#[derive(Serialize)]
struct Run<'a> {
    policy: &'a str,
    verdict: &'a str,
    us: u64,
}

impl DecisionLog {
    /// Starts the writer for `target`; `None` for [`DecisionTarget::Off`].
    pub fn start(target: &DecisionTarget) -> std::io::Result<Option<DecisionLog>> {
        let out: Box<dyn Write + Send> = match target {
            DecisionTarget::Off => return Ok(None),
            DecisionTarget::Stdout => Box::new(std::io::stdout()),
            DecisionTarget::File(path) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        };
        DecisionLog::spawn(out).map(Some)
    }

    /// Starts the writer thread writing to `out`.
    fn spawn(out: Box<dyn Write + Send>) -> std::io::Result<DecisionLog> {
        let mut out = std::io::BufWriter::new(out);
        let (lines, queue) = sync_channel::<String>(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let written_bytes = Arc::clone(&queued);
        std::thread::Builder::new().name("hookgate-decisions".into()).spawn(move || {
            // Write what is queued, flush once the queue is empty: prompt when idle, batched under load.
            while let Ok(first) = queue.recv() {
                let written = std::iter::once(first)
                    .chain(std::iter::from_fn(|| queue.try_recv().ok()))
                    .try_for_each(|line| {
                        written_bytes.fetch_sub(line.len(), Ordering::Relaxed);
                        out.write_all(line.as_bytes())
                    })
                    .and_then(|()| out.flush());
                if let Err(err) = written {
                    tracing::error!("decision log write failed: {err}");
                }
            }
        })?;
        Ok(DecisionLog { lines, queued })
    }

    /// Queues the line of one hook; returns false if it had to be dropped (the queue holds
    /// [`QUEUE`] lines or [`QUEUE_BYTES`] bytes). Client-chosen text in it is cut
    /// ([`MAX_METHOD_BYTES`], [`MAX_SESSION_BYTES`], [`MAX_NOTE_BYTES`]), so a line stays
    /// within a few KiB.
    pub(crate) fn write(&self, decision: &Decision, method: &str, latency_us: u64) -> bool {
        let line = Line {
            time: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            tenant: &decision.tenant,
            generation: decision.generation,
            method: bounded_text(method, MAX_METHOD_BYTES),
            kind: decision.kind.as_str(),
            session_id: bounded_text(&decision.session_id, MAX_SESSION_BYTES),
            policies: decision
                .runs
                .iter()
                .map(|run| Run { policy: &run.policy, verdict: run.outcome.as_str(), us: run.micros })
                .collect(),
            status: decision.status,
            outcome: decision.outcome().as_str(),
            fallback: decision.fallback.map(Cause::as_str),
            note: decision.note.as_deref().map(|note| bounded_text(note, MAX_NOTE_BYTES)),
            latency_us,
        };
        let Ok(mut text) = serde_json::to_string(&line) else { return false };
        text.push('\n');
        let bytes = text.len();
        if self.queued.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        let sent = self.lines.try_send(text);
        if sent.is_err() {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
        }
        !matches!(sent, Err(TrySendError::Full(_) | TrySendError::Disconnected(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_engine::Body;
    use hookgate_runtime::MethodKind;

    /// A writer that never finishes a write: the disk that stopped.
    struct Stalled;

    impl Write for Stalled {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            loop {
                std::thread::park();
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn decision(note: &str, session_id: &str) -> Decision {
        Decision {
            status: 403,
            body: Body::Echo,
            tenant: "rooms".into(),
            generation: 1,
            session_id: session_id.into(),
            node_id: String::new(),
            kind: MethodKind::Direct,
            canonical: Some("publishStream"),
            runs: Vec::new(),
            fallback: Some(Cause::Error),
            note: Some(note.into()),
            app_key: "rooms".into(),
            effects: Vec::new(),
            refusal: None,
            dropped_send_data: 0,
        }
    }

    #[test]
    fn lines_are_cut_and_the_queue_is_bounded_in_bytes() {
        let log = DecisionLog::spawn(Box::new(Stalled)).unwrap();
        let huge = "x".repeat(1 << 20);
        let (line, queue) = sync_channel::<String>(1);
        let probe = DecisionLog { lines: line, queued: Arc::new(AtomicUsize::new(0)) };
        assert!(probe.write(&decision(&huge, &huge), &huge, 1));
        let text = queue.recv().unwrap();
        assert!(text.len() < 3 * 1024, "{} bytes", text.len());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(parsed["note"].as_str().unwrap().ends_with("… (truncated, 1048576 bytes)"));
        assert!(parsed["session_id"].as_str().unwrap().ends_with("… (truncated, 1048576 bytes)"));
        assert!(parsed["method"].as_str().unwrap().ends_with("… (truncated, 1048576 bytes)"));
        assert_eq!(parsed["outcome"], "fallback");

        // Behind a stalled writer, lines are refused once QUEUE_BYTES are waiting, long before
        // QUEUE lines: ~2.3 KiB each, so about 3,600 fit (and what the writer took before it stalled).
        assert!(probe.write(&decision(&huge, "s"), "publishStream", 1));
        let line_bytes = queue.recv().unwrap().len();
        let accepted = (0..QUEUE).take_while(|_| log.write(&decision(&huge, "s"), "publishStream", 1)).count();
        assert!(accepted < QUEUE, "{accepted} lines accepted");
        assert!(accepted * line_bytes <= QUEUE_BYTES + 64 * 1024, "{accepted} lines of ~{line_bytes} bytes");
    }
}
