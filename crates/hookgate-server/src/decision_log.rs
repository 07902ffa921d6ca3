//! The decision log: one JSON line per hook, written by its own thread so that a slow disk
//! never slows a hook. Lines carry no payload and no header, so no token or `Authorization`
//! value can reach it.

use hookgate_engine::Decision;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::SystemTime;

/// Lines waiting for the writer; past this, lines are dropped and counted.
const QUEUE: usize = 16_384;

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
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    tenant: &'a str,
    generation: u64,
    method: &'a str,
    kind: &'a str,
    session_id: &'a str,
    policies: Vec<Run<'a>>,
    status: u16,
    fallback: Option<&'a str>,
    note: Option<&'a str>,
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
        let mut out = std::io::BufWriter::new(out);
        let (lines, queue) = sync_channel::<String>(QUEUE);
        std::thread::Builder::new().name("hookgate-decisions".into()).spawn(move || {
            // Write what is queued, flush once the queue is empty: prompt when idle, batched under load.
            while let Ok(first) = queue.recv() {
                let written = std::iter::once(first)
                    .chain(std::iter::from_fn(|| queue.try_recv().ok()))
                    .try_for_each(|line| out.write_all(line.as_bytes()))
                    .and_then(|()| out.flush());
                if let Err(err) = written {
                    tracing::error!("decision log write failed: {err}");
                }
            }
        })?;
        Ok(Some(DecisionLog { lines }))
    }

    /// Queues the line of one hook; returns false if it had to be dropped.
    pub(crate) fn write(&self, decision: &Decision, method: &str, latency_us: u64) -> bool {
        let line = Line {
            time: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            tenant: &decision.tenant,
            generation: decision.generation,
            method,
            kind: decision.kind.as_str(),
            session_id: &decision.session_id,
            policies: decision
                .runs
                .iter()
                .map(|run| Run { policy: &run.policy, verdict: run.outcome, us: run.micros })
                .collect(),
            status: decision.status,
            fallback: decision.fallback,
            note: decision.note.as_deref(),
            latency_us,
        };
        let Ok(mut text) = serde_json::to_string(&line) else { return false };
        text.push('\n');
        !matches!(self.lines.try_send(text), Err(TrySendError::Full(_) | TrySendError::Disconnected(_)))
    }
}
