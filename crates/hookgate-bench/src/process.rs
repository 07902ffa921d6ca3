//! A server under test as a child process: spawned, awaited until it prints its listening
//! address, and killed when done (or dropped).

use anyhow::{Context, Result, bail, ensure};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its listening address (hookgate compiles its modules
/// first: 8–16 s for a Python or JavaScript guest on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// What `hookgate serve` prints once it listens, before its hooks address.
pub(crate) const HOOKGATE_READY: &str = "hookgate listening: hooks=http://";

/// Fails unless the `hookgate` binary exists, naming the make target that builds it.
pub(crate) fn ensure_built(hookgate: &Path, make_target: &str) -> Result<()> {
    ensure!(hookgate.is_file(), "{} not found: build it first (make {make_target})", hookgate.display());
    Ok(())
}

/// `hookgate serve --policies <tree> --listen 127.0.0.1:0`, to add flags to and spawn.
pub(crate) fn hookgate_serve(hookgate: &Path, tree: &Path) -> Command {
    let mut command = Command::new(hookgate);
    command.arg("serve").arg("--policies").arg(tree).args(["--listen", "127.0.0.1:0"]);
    command
}

/// A running server process.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    /// The child; `None` once stopped.
    child: Option<Child>,
    /// The address it listens on.
    addr: SocketAddr,
    /// Where its stderr goes.
    log: PathBuf,
}

impl ServerProcess {
    /// Spawns `command` with stderr to `log`, and waits until a stdout line starts with
    /// `ready_prefix` followed by the listening address (`HOST:PORT`).
    pub(crate) fn spawn(mut command: Command, ready_prefix: &str, log: PathBuf) -> Result<Self> {
        let stderr = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot spawn {command:?}"))?;
        let stdout = child.stdout.take().context("child has no stdout")?;
        let (lines, received) = mpsc::channel();
        // Forwards stdout lines, then keeps draining them so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let mut server = Self { child: Some(child), addr: SocketAddr::from(([127, 0, 0, 1], 0)), log };
        server.addr =
            server.await_address(&received, ready_prefix).with_context(|| format!("{command:?} did not start"))?;
        Ok(server)
    }

    /// Reads stdout lines until the ready line.
    fn await_address(&self, lines: &mpsc::Receiver<String>, ready_prefix: &str) -> Result<SocketAddr> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix(ready_prefix) {
                        return addr.trim().parse().with_context(|| format!("bad listening address in {line:?}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("no {ready_prefix:?} line within {START_TIMEOUT:?}{}", self.log_tail())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("it exited before listening{}", self.log_tail()),
            }
        }
    }

    /// The listening address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The end of the stderr log, for error messages (empty if there is none).
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() { String::new() } else { format!("\n--- stderr ({}) ---\n{tail}", self.log.display()) }
    }

    /// Kills the server; fails if it had already exited (it died under load).
    pub(crate) fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let exited = child.try_wait().context("cannot query the server process")?;
        if let Some(status) = exited {
            bail!("the server exited on its own ({status}){}", self.log_tail());
        }
        child.kill().context("cannot kill the server")?;
        child.wait().context("cannot reap the server")?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
