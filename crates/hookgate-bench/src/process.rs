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

    /// The CPU time (user + system, every thread) the server has used so far, from
    /// `/proc/<pid>/stat`.
    pub(crate) fn cpu_time(&self) -> Result<Duration> {
        let child = self.child.as_ref().context("the server was stopped")?;
        let path = format!("/proc/{}/stat", child.id());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let ticks = cpu_ticks(&stat).with_context(|| format!("cannot read the CPU times of {path}"))?;
        let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|hz| u64::try_from(hz).ok())
            .filter(|hz| *hz > 0)
            .context("cannot read the clock tick rate (CLK_TCK)")?;
        Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
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

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks. The command
/// name (field 2) is in parentheses and may hold spaces, so fields are counted after its `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// `command` run under `taskset -c <cpu>`: pinned to that CPU (taskset execs it, so the pid is
/// the server's).
pub(crate) fn pinned(command: &Command, cpu: u32) -> Command {
    let mut pinned = Command::new("taskset");
    pinned.args(["-c", &cpu.to_string()]).arg(command.get_program()).args(command.get_args());
    pinned
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn a_pinned_command_runs_the_same_program_under_taskset() {
        let mut command = Command::new("hookgate");
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        let pinned = pinned(&command, 0);
        assert_eq!(pinned.get_program(), "taskset");
        let args: Vec<_> = pinned.get_args().collect();
        assert_eq!(args, ["-c", "0", "hookgate", "serve", "--listen", "127.0.0.1:0"]);
    }
}
