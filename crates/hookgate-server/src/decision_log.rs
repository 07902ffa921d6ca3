//! The decision log: one JSON line per hook, written by its own thread so that a slow disk
//! never slows a hook. Lines carry no payload and no header, so no token or `Authorization`
//! value can reach it. [`DecisionLog::close`] writes what is queued and joins the thread, so
//! a shutdown loses no line. [`DecisionLog::reopen`] (SIGHUP, for logrotate) makes the writer
//! open its file again between two lines, so a rotation loses and splits none.

use hookgate_engine::{Cause, Decision, bounded_text};
use serde::Serialize;
use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
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
    lines: SyncSender<Entry>,
    /// Bytes queued and not yet written.
    queued: Arc<AtomicUsize>,
    /// The writer thread, until [`DecisionLog::close`] joins it.
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// What the writer thread receives.
enum Entry {
    /// One line, with its newline.
    Line(String),
    /// Write what is queued, flush, and stop.
    Close,
    /// Flush, then append to a file newly opened at the log's path (after a rotation).
    Reopen,
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
        let out = match target {
            DecisionTarget::Off => return Ok(None),
            DecisionTarget::Stdout => Output { out: BufWriter::new(Box::new(std::io::stdout())), path: None },
            DecisionTarget::File(path) => Output { out: BufWriter::new(append(path)?), path: Some(path.clone()) },
        };
        DecisionLog::spawn(out).map(Some)
    }

    /// Starts the writer thread writing to `out`.
    fn spawn(out: Output) -> std::io::Result<DecisionLog> {
        let (lines, queue) = sync_channel::<Entry>(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let written_bytes = Arc::clone(&queued);
        let writer = std::thread::Builder::new()
            .name("hookgate-decisions".into())
            .spawn(move || write_lines(&queue, &written_bytes, out))?;
        Ok(DecisionLog { lines, queued, writer: Arc::new(Mutex::new(Some(writer))) })
    }

    /// Makes the writer append to a file newly opened at the log's path, once the lines queued
    /// before this call are written to the old one (logrotate renames the file, then sends
    /// SIGHUP). Every line goes whole to one file or the other. If the path cannot be opened,
    /// the error is logged and lines go on to the old file. Nothing for standard output.
    /// Waits for room in a full queue: call it from a thread that may block.
    pub fn reopen(&self) {
        // Fails only once the writer is gone (after close): nothing left to reopen.
        let _ = self.lines.send(Entry::Reopen);
    }

    /// Writes every line queued so far, flushes, stops the writer thread and waits for it;
    /// lines offered afterwards may be dropped. Blocks until the lines are written: call it from
    /// a thread that may block, bounded in time if the disk may stall. Later calls return at once.
    pub fn close(&self) {
        let Some(writer) = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() else {
            return;
        };
        // Waits for room behind a full queue; fails only if the thread is gone already.
        let _ = self.lines.send(Entry::Close);
        if writer.join().is_err() {
            tracing::error!("the decision log writer panicked");
        }
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
        let sent = self.lines.try_send(Entry::Line(text));
        if sent.is_err() {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
        }
        !matches!(sent, Err(TrySendError::Full(_) | TrySendError::Disconnected(_)))
    }
}

/// Where the writer thread writes, and the path it reopens, if any.
struct Output {
    out: BufWriter<Box<dyn Write + Send>>,
    path: Option<PathBuf>,
}

impl Output {
    /// Flushes, then swaps in a file newly opened at the path; keeps the old one on failure.
    fn reopen(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let Some(path) = &self.path else {
            tracing::info!("the decision log goes to standard output: nothing to reopen");
            return Ok(());
        };
        match append(path) {
            Ok(file) => {
                self.out = BufWriter::new(file);
                tracing::info!(path = %path.display(), "decision log reopened");
            }
            Err(err) => {
                tracing::error!(path = %path.display(), "cannot reopen the decision log, writing on to the old file: {err}")
            }
        }
        Ok(())
    }
}

/// `path` opened to append, created `0640` if missing (lines name tenants and sessions).
fn append(path: &Path) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(Box::new(std::fs::OpenOptions::new().create(true).append(true).mode(0o640).open(path)?))
}

/// The writer thread: writes what is queued, flushes once the queue is empty (prompt when
/// idle, batched under load), until [`Entry::Close`] or every handle is gone.
fn write_lines(queue: &Receiver<Entry>, queued: &AtomicUsize, mut output: Output) {
    while let Ok(first) = queue.recv() {
        let mut closing = false;
        let written = std::iter::once(first)
            .chain(std::iter::from_fn(|| queue.try_recv().ok()))
            .try_for_each(|entry| match entry {
                Entry::Line(line) => {
                    queued.fetch_sub(line.len(), Ordering::Relaxed);
                    output.out.write_all(line.as_bytes())
                }
                Entry::Close => {
                    closing = true;
                    Ok(())
                }
                Entry::Reopen => output.reopen(),
            })
            .and_then(|()| output.out.flush());
        if let Err(err) = written {
            tracing::error!("decision log write failed: {err}");
        }
        if closing {
            return;
        }
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
        let log = DecisionLog::spawn(Output { out: BufWriter::new(Box::new(Stalled)), path: None }).unwrap();
        let huge = "x".repeat(1 << 20);
        let (line, queue) = sync_channel::<Entry>(1);
        let probe = DecisionLog { lines: line, queued: Arc::new(AtomicUsize::new(0)), writer: Arc::default() };
        let queue = std::iter::from_fn(move || match queue.recv() {
            Ok(Entry::Line(text)) => Some(text),
            _ => None,
        });
        let mut queue = queue.peekable();
        assert!(probe.write(&decision(&huge, &huge), &huge, 1));
        let text = queue.next().unwrap();
        assert!(text.len() < 3 * 1024, "{} bytes", text.len());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(parsed["note"].as_str().unwrap().ends_with("… (truncated, 1048576 bytes)"));
        assert!(parsed["session_id"].as_str().unwrap().ends_with("… (truncated, 1048576 bytes)"));
        assert!(parsed["method"].as_str().unwrap().ends_with("… (truncated, 1048576 bytes)"));
        assert_eq!(parsed["outcome"], "fallback");

        // Behind a stalled writer, lines are refused once QUEUE_BYTES are waiting, long before
        // QUEUE lines: ~2.3 KiB each, so about 3,600 fit (and what the writer took before it stalled).
        assert!(probe.write(&decision(&huge, "s"), "publishStream", 1));
        let line_bytes = queue.next().unwrap().len();
        let accepted = (0..QUEUE).take_while(|_| log.write(&decision(&huge, "s"), "publishStream", 1)).count();
        assert!(accepted < QUEUE, "{accepted} lines accepted");
        assert!(accepted * line_bytes <= QUEUE_BYTES + 64 * 1024, "{accepted} lines of ~{line_bytes} bytes");
    }

    /// A writer into memory the test reads afterwards.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u8>>>);

    impl Write for Memory {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn close_writes_every_queued_line_and_joins_the_writer() {
        let memory = Memory::default();
        let log = DecisionLog::spawn(Output { out: BufWriter::new(Box::new(memory.clone())), path: None }).unwrap();
        let copies: Vec<_> = (0..4).map(|_| log.clone()).collect();
        for i in 0..5_000 {
            assert!(copies[i % 4].write(&decision("n", &format!("s{i}")), "publishStream", 1));
        }
        log.close();
        let text = String::from_utf8(memory.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 5_000);
        assert_eq!(lines[4_999]["session_id"], "s4999");
        // The thread is gone: a later line is refused, a second close returns at once.
        assert!(log.writer.lock().unwrap().is_none());
        assert!(!copies[0].write(&decision("n", "late"), "publishStream", 1));
        copies[1].close();
    }

    #[test]
    fn reopen_after_a_rename_puts_every_line_whole_in_one_file_or_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let log = DecisionLog::start(&DecisionTarget::File(path.clone())).unwrap().unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        while !log.write(&decision("n", &format!("w{w}-{i}")), "publishStream", 1) {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for rotation in 0..20 {
            // The writer reopens once the lines queued before `reopen` are written.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !path.exists() {
                assert!(std::time::Instant::now() < deadline, "rotation {rotation}: never reopened");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::fs::rename(&path, dir.path().join(format!("decisions.jsonl.{rotation}"))).unwrap();
            log.reopen();
        }
        writers.into_iter().for_each(|writer| writer.join().unwrap());
        log.close();
        let (mut sessions, mut files_written) = (Vec::new(), 0);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'));
            files_written += usize::from(!text.is_empty());
            for line in text.lines() {
                let line: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
                sessions.push(line["session_id"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(sessions.len(), 8_000);
        sessions.sort();
        sessions.dedup();
        assert_eq!(sessions.len(), 8_000, "a line written twice");
        assert!(files_written > 1, "the writer never reopened");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o077 & !0o040, 0, "{mode:o}");
    }
}
