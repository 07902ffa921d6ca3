//! `hookgate-bench run` (`make bench`): the same stream-guard rule served six ways, measured in
//! one run, three ways, and printed as one markdown report.
//!
//! The servers: the axum echo (the HTTP floor), the rule compiled natively into an axum handler,
//! the same rule in Rego (regorus embedded in axum) and as a Node.js script, and hookgate on the
//! shipped tree (a fresh instance per hook) and on a copy of it with stream-guard `reuse = true`.
//! Each is checked (it must answer the probes exactly as the native rule does), then, per
//! placement (unpinned: everything on every core; pinned: the server on CPU 0, the load on
//! CPU 1):
//!
//! 1. **peak**: a wrk warm-up, then the measured wrk run; req/s, p50/p99, and the server's CPU
//!    time per hook (user + system of its process over the measured run ÷ hooks answered);
//! 2. **fixed rate**: the constant-rate generator (`hookgate-bench fixed-rate`) at a fraction of
//!    that server's median peak in the same placement; p50/p99/p99.9 from each request's
//!    intended send time.
//!
//! Every server runs in a process of its own, spawned and killed for each measurement; rounds
//! alternate the servers (rotating which goes first) and the report shows per-metric medians.

pub(crate) use crate::checks::check_stream_guard;

use crate::checks;
use crate::load::{self, LoadShape, WrkReport};
use crate::markdown::{self, Placed};
use crate::native::{self, Decision};
use crate::peers;
use crate::process::{self, ServerProcess};
use crate::rate::RateReport;
use crate::report::{self, FixedRow, Machine, Row};
use crate::servers;
use anyhow::{Context, Result, bail, ensure};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// Arguments of `run`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("duration", |arg| arg.default_value("5s")))]
pub(crate) struct BenchArgs {
    /// Hook body sent by every request.
    #[arg(long, default_value = "tests/payloads/publishStream.json")]
    payload: PathBuf,
    /// Hook method (last path segment); the native rule models the chain of publishStream and playStream.
    #[arg(long, default_value = "publishStream")]
    method: String,
    /// The wrk load of the peak phase (its connections are also the fixed-rate connections).
    #[command(flatten)]
    load: LoadShape,
    /// wrk run before each measured one, not counted (JIT, caches, pools), as wrk reads it.
    #[arg(long, default_value = "1s", value_parser = load::parse_duration_arg)]
    warmup: String,
    /// Rounds per phase; servers alternate round-robin and the report shows each server's medians.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Where servers and load run: `unpinned` (everything on every core), `pinned` (each
    /// server on CPU 0, the load generator on CPU 1, with `taskset`; needs 2 CPUs).
    #[arg(long, value_delimiter = ',', default_value = "unpinned,pinned")]
    placements: Vec<Placement>,
    /// Only the pinned placement (the same as `--placements pinned`).
    #[arg(long, conflicts_with = "placements")]
    pin: bool,
    /// Fixed-rate phase: the rate, as a fraction of each server's median peak req/s in the
    /// same placement; 0 skips the phase.
    #[arg(long, default_value_t = 0.5, value_parser = parse_fraction)]
    fixed_fraction: f64,
    /// Fixed-rate phase: measured time per server and round (after `--warmup` at the same rate).
    #[arg(long, default_value = "5s", value_parser = load::parse_duration_arg)]
    fixed_duration: String,
    /// Also write the markdown report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The hookgate binary.
    #[arg(long, default_value = "target/release/hookgate")]
    hookgate: PathBuf,
    /// The policy tree hookgate serves (copied, with stream-guard `reuse = true`, for the reuse row).
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// The Node.js binary that runs the Node.js peer.
    #[arg(long, default_value = "node")]
    node: PathBuf,
}

/// Parses `--fixed-fraction`: a number in 0–1.
fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a fraction between 0 and 1")),
    }
}

/// Where the servers and the load generator run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Placement {
    /// Everything on every core: the load generator competes with the server.
    Unpinned,
    /// The server on [`SERVER_CPU`], the load generator on [`LOAD_CPU`].
    Pinned,
}

impl Placement {
    /// The heading of its section in the report.
    pub(crate) fn heading(self) -> String {
        match self {
            Placement::Unpinned => "(a) unpinned: each server and the load generator share every core".into(),
            Placement::Pinned => {
                format!("(b) pinned: each server on CPU {SERVER_CPU}, the load generator on CPU {LOAD_CPU} (taskset)")
            }
        }
    }

    /// Its short name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Placement::Unpinned => "unpinned",
            Placement::Pinned => "pinned",
        }
    }
}

/// The CPU each server runs on when pinned.
const SERVER_CPU: u32 = 0;
/// The CPU the load generator runs on when pinned.
const LOAD_CPU: u32 = 1;

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The bare axum echo.
    Echo,
    /// The stream-guard rule compiled natively.
    Native,
    /// The rule in Rego, evaluated by regorus embedded in axum.
    Rego,
    /// The rule as a Node.js script.
    Node,
    /// The real `hookgate serve` on the shipped tree (a fresh instance per hook).
    Hookgate,
    /// `hookgate serve` on a copy of the tree with stream-guard `reuse = true`.
    HookgateReuse,
}

/// The servers, in report order.
pub(crate) const TARGETS: [Target; 6] =
    [Target::Echo, Target::Native, Target::Rego, Target::Node, Target::Hookgate, Target::HookgateReuse];

impl Target {
    /// Its row label in the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Target::Echo => "axum echo (HTTP floor)",
            Target::Native => "native rule (axum handler)",
            Target::Rego => "Rego (regorus in axum)",
            Target::Node => "Node.js script",
            Target::Hookgate => "hookgate, fresh instance per hook",
            Target::HookgateReuse => "hookgate, stream-guard reuse = true",
        }
    }

    /// File-name stem of its stderr log.
    fn stem(self) -> &'static str {
        match self {
            Target::Echo => "echo",
            Target::Native => "native",
            Target::Rego => "rego",
            Target::Node => "node",
            Target::Hookgate => "hookgate",
            Target::HookgateReuse => "hookgate-reuse",
        }
    }

    /// Its index in [`TARGETS`].
    pub(crate) fn index(self) -> usize {
        TARGETS.iter().position(|t| *t == self).unwrap_or_default()
    }
}

/// Everything fixed for the whole run.
struct Plan {
    /// The run's arguments.
    args: BenchArgs,
    /// The placements, in order.
    placements: Vec<Placement>,
    /// The payload bytes.
    payload: Vec<u8>,
    /// What the stream-guard rule answers to the payload.
    expected: Decision,
    /// The request path, `/rest/{method}`.
    path: String,
    /// The wrk Lua script.
    script: PathBuf,
    /// The payload's copy that the fixed-rate generator sends.
    body_file: PathBuf,
    /// Scratch directory (script, body copy, server logs, the reuse tree), removed on drop.
    work: WorkDir,
    /// This executable: it serves the echo, the native rule and the Rego peer, and is the
    /// fixed-rate generator.
    exe: PathBuf,
    /// The Node.js peer's script.
    node_script: PathBuf,
    /// The policy tree of [`Target::HookgateReuse`].
    reuse_tree: PathBuf,
}

/// A scratch directory removed on drop.
pub(crate) struct WorkDir(pub(crate) PathBuf);

impl WorkDir {
    /// Creates a fresh directory in the system temp dir.
    pub(crate) fn create() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("hookgate-bench.{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the bench and prints the report; fails on a wrong answer or unexpected error responses.
pub(crate) fn run(args: &BenchArgs) -> Result<()> {
    let plan = Plan::new(args)?;
    let machine = Machine::detect();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("hookgate-bench: the same rule on {} servers, one at a time, same run", TARGETS.len());
    println!("machine:  {}", machine.describe());
    println!(
        "peak:     {} after a {} warm-up",
        plan.wrk_command(Placement::Unpinned, "http://<server>/…").join(" "),
        args.warmup
    );
    println!("rounds:   {} per phase and placement (servers alternated; medians reported)", args.rounds);

    // Every server must answer correctly before any of them is loaded.
    for target in TARGETS {
        plan.preflight(target).with_context(|| format!("{} failed its check", target.label()))?;
    }
    println!("checked:  all {} servers answer the probes as the native rule does", TARGETS.len());

    let mut placed = Vec::new();
    for &placement in &plan.placements {
        println!("\n== {}", placement.heading());
        let rows = plan.peak_phase(placement)?;
        let fixed = if args.fixed_fraction > 0.0 { Some(plan.fixed_phase(placement, &rows)?) } else { None };
        placed.push(Placed { placement, peak: rows.iter().map(Row::summary).collect(), fixed });
    }

    let markdown = markdown::markdown(
        &markdown::Header {
            machine: &machine,
            command: &command,
            payload: &plan.describe_payload(),
            load: &plan.describe_load(),
            rounds: args.rounds,
        },
        &placed,
    );
    println!("\n----- report (markdown) -----\n{markdown}");
    if let Some(path) = &args.report {
        std::fs::write(path, &markdown).with_context(|| format!("cannot write {}", path.display()))?;
        println!("(also written to {})", path.display());
    }
    plan.check_errors(&placed)
}

impl Plan {
    /// Reads the payload, works out the expected answer, writes the scripts and the reuse tree.
    fn new(args: &BenchArgs) -> Result<Self> {
        ensure!(
            native::is_guarded(&args.method),
            "--method {}: the native rule models the stream-guard chain (publishStream, playStream) only",
            args.method
        );
        args.load.validate()?;
        let placements = if args.pin { vec![Placement::Pinned] } else { args.placements.clone() };
        ensure!(!placements.is_empty(), "--placements names no placement");
        ensure!(
            !placements.contains(&Placement::Pinned)
                || std::thread::available_parallelism().map_or(0, usize::from) >= 2,
            "the pinned placement needs at least 2 CPUs (the server on CPU {SERVER_CPU}, the load on CPU {LOAD_CPU})"
        );
        process::ensure_built(&args.hookgate, "policies")?;
        let payload = std::fs::read(&args.payload)
            .with_context(|| format!("cannot read the payload {}", args.payload.display()))?;
        let expected = native::decide(&args.method, &payload);
        ensure!(
            expected.status != 400,
            "{} is not a valid hook: {}",
            args.payload.display(),
            String::from_utf8_lossy(expected.body_bytes(&payload))
        );
        let work = WorkDir::create()?;
        let body_file = work.0.join("body.json");
        std::fs::write(&body_file, &payload).with_context(|| format!("cannot write {}", body_file.display()))?;
        let script = work.0.join("post.lua");
        load::write_script(&script, &body_file)?;
        let node_script = peers::write_node_script(&work.0)?;
        let reuse_tree = peers::reuse_tree(&args.policies, &work.0.join("policies-reuse"))?;
        Ok(Self {
            args: args.clone(),
            placements,
            payload,
            expected,
            path: format!("/rest/{}", args.method),
            script,
            body_file,
            work,
            exe: std::env::current_exe().context("cannot locate the hookgate-bench executable")?,
            node_script,
            reuse_tree,
        })
    }

    /// The payload line of the report.
    fn describe_payload(&self) -> String {
        format!(
            "`{}` ({} bytes) as `POST {}`; stream-guard answers it {} with {}",
            self.args.payload.display(),
            self.payload.len(),
            self.path,
            self.expected.status,
            match self.expected.body {
                native::Body::Echo => "the received body",
                native::Body::Json(_) => "a new JSON body",
            }
        )
    }

    /// The load line of the report.
    fn describe_load(&self) -> String {
        let mut text = format!(
            "peak: `wrk -t{} -c{} -d{} --latency` after a {} wrk warm-up",
            self.args.load.threads, self.args.load.connections, self.args.load.duration, self.args.warmup
        );
        if self.args.fixed_fraction > 0.0 {
            text += &format!(
                "; fixed rate: `hookgate-bench fixed-rate` at {:.0} % of each server's median peak in the same \
                 placement, {} connections, {} after a {} warm-up at that rate",
                self.args.fixed_fraction * 100.0,
                self.args.load.connections,
                self.args.fixed_duration,
                self.args.warmup
            );
        }
        text
    }

    /// Spawns `target` (unpinned), checks its answers and kills it.
    fn preflight(&self, target: Target) -> Result<()> {
        let server = self.spawn(target, Placement::Unpinned)?;
        self.check(target, server.addr()).with_context(|| format!("wrong answer{}", server.log_tail()))?;
        server.stop()
    }

    /// Rounds of wrk at peak, every server in turn.
    fn peak_phase(&self, placement: Placement) -> Result<Vec<Row>> {
        let mut rows: Vec<Row> = TARGETS.iter().map(|t| Row { label: t.label(), samples: Vec::new() }).collect();
        for (round, target) in self.schedule() {
            let sample = self
                .measure_peak(target, placement)
                .with_context(|| format!("{} ({}, peak, round {round})", target.label(), placement.name()))?;
            println!(
                "round {round}/{} peak  {:<36} {}",
                self.args.rounds,
                target.label(),
                report::sample_line(&sample)
            );
            rows[target.index()].samples.push(sample);
        }
        Ok(rows)
    }

    /// Rounds of the fixed-rate generator, every server at its share of its median peak.
    fn fixed_phase(&self, placement: Placement, peaks: &[Row]) -> Result<Vec<FixedRow>> {
        let mut rows: Vec<FixedRow> =
            TARGETS.iter().map(|t| FixedRow { label: t.label(), samples: Vec::new() }).collect();
        for (round, target) in self.schedule() {
            let rate = peaks[target.index()].summary().hooks_per_sec * self.args.fixed_fraction;
            let sample = self
                .measure_fixed(target, placement, rate)
                .with_context(|| format!("{} ({}, fixed rate, round {round})", target.label(), placement.name()))?;
            println!("round {round}/{} fixed {:<36} {}", self.args.rounds, target.label(), report::fixed_line(&sample));
            rows[target.index()].samples.push(sample);
        }
        Ok(rows)
    }

    /// `(round, target)` in run order: every server once per round, the first one rotating.
    fn schedule(&self) -> Vec<(usize, Target)> {
        (0..self.args.rounds as usize)
            .flat_map(|round| (0..TARGETS.len()).map(move |step| (round + 1, TARGETS[(round + step) % TARGETS.len()])))
            .collect()
    }

    /// Spawns `target`, checks it, warms it up, measures it at peak with wrk, kills it.
    fn measure_peak(&self, target: Target, placement: Placement) -> Result<WrkReport> {
        let server = self.spawn(target, placement)?;
        let addr = server.addr();
        self.check(target, addr).with_context(|| format!("wrong answer from {addr}{}", server.log_tail()))?;
        let url = format!("http://{addr}{}", self.path);
        let mut warmup = self.args.load.clone();
        warmup.duration.clone_from(&self.args.warmup);
        load::run(&self.pinned_load(placement, load::command_line(&warmup, &self.script, &url)))?;
        let cpu_before = server.cpu_time()?;
        let mut sample = load::run(&self.wrk_command(placement, &url))?;
        let cpu = server.cpu_time()?.saturating_sub(cpu_before);
        sample.server_cpu_per_hook = u32::try_from(sample.requests.max(1)).ok().map(|requests| cpu / requests);
        server.stop()?;
        Ok(sample)
    }

    /// Spawns `target`, checks it, runs the fixed-rate generator at `rate`, kills it.
    fn measure_fixed(&self, target: Target, placement: Placement, rate: f64) -> Result<RateReport> {
        let server = self.spawn(target, placement)?;
        let addr = server.addr();
        self.check(target, addr).with_context(|| format!("wrong answer from {addr}{}", server.log_tail()))?;
        let mut command = Command::new(&self.exe);
        command
            .arg("fixed-rate")
            .args(["--url", &format!("http://{addr}{}", self.path)])
            .arg("--body")
            .arg(&self.body_file)
            .args(["--rate", &format!("{rate:.1}")])
            .args(["--connections", &self.args.load.connections.to_string()])
            .args(["--duration", &load::seconds(&self.args.fixed_duration)?.to_string()])
            .args(["--warmup", &load::seconds(&self.args.warmup)?.to_string()]);
        let command = if placement == Placement::Pinned { process::pinned(&command, LOAD_CPU) } else { command };
        let sample = fixed_rate(command)?;
        server.stop()?;
        Ok(sample)
    }

    /// The measured wrk command line for `url` in `placement`.
    fn wrk_command(&self, placement: Placement, url: &str) -> Vec<String> {
        self.pinned_load(placement, load::command_line(&self.args.load, &self.script, url))
    }

    /// `argv` under `taskset -c LOAD_CPU` when pinned.
    fn pinned_load(&self, placement: Placement, argv: Vec<String>) -> Vec<String> {
        match placement {
            Placement::Pinned => {
                ["taskset".into(), "-c".into(), LOAD_CPU.to_string()].into_iter().chain(argv).collect()
            }
            Placement::Unpinned => argv,
        }
    }

    /// Starts `target` on a free port of 127.0.0.1 (on [`SERVER_CPU`] when pinned).
    fn spawn(&self, target: Target, placement: Placement) -> Result<ServerProcess> {
        let log = self.work.0.join(format!("{}.log", target.stem()));
        let (command, ready) = match target {
            Target::Echo | Target::Native | Target::Rego => {
                let serve = match target {
                    Target::Echo => "serve-echo",
                    Target::Native => "serve-native",
                    _ => "serve-rego",
                };
                let mut command = Command::new(&self.exe);
                command.args([serve, "--listen", "127.0.0.1:0"]);
                (command, servers::READY_PREFIX)
            }
            Target::Node => {
                let mut command = Command::new(&self.args.node);
                command.arg(&self.node_script).arg("127.0.0.1:0");
                (command, servers::READY_PREFIX)
            }
            Target::Hookgate => {
                (process::hookgate_serve(&self.args.hookgate, &self.args.policies), process::HOOKGATE_READY)
            }
            Target::HookgateReuse => {
                (process::hookgate_serve(&self.args.hookgate, &self.reuse_tree), process::HOOKGATE_READY)
            }
        };
        let command = if placement == Placement::Pinned { process::pinned(&command, SERVER_CPU) } else { command };
        ServerProcess::spawn(command, ready, log)
    }

    /// Checks `target` answers correctly: the echo echoes; every other server answers the
    /// probes exactly as the native rule does.
    fn check(&self, target: Target, addr: SocketAddr) -> Result<()> {
        match target {
            Target::Echo => checks::check_echo(addr, &self.path, &self.payload),
            _ => checks::check_rule(addr, &self.path, &self.args.method, &self.payload),
        }
    }

    /// Fails if a server answered non-2xx/3xx although stream-guard allows the payload (or
    /// at all, for the echo). Requests the fixed-rate phase lost (connection errors, answers
    /// over 10 s, requests never sent past the schedule's grace time) are a measure of an
    /// overloaded server or machine: the report shows them, they do not fail the run.
    fn check_errors(&self, placed: &[Placed]) -> Result<()> {
        let allowed = (200..400).contains(&self.expected.status);
        let refused = |label: &str, non_2xx_3xx: u64| non_2xx_3xx > 0 && (allowed || label == Target::Echo.label());
        let mut unexpected = Vec::new();
        for run in placed {
            let fixed =
                run.fixed.iter().flatten().map(FixedRow::summary).map(|s| (s.label, s.non_2xx_3xx, "fixed rate"));
            let peak = run.peak.iter().map(|s| (s.label, s.non_2xx_3xx, "peak"));
            for (label, non_2xx_3xx, phase) in peak.chain(fixed) {
                if refused(label, non_2xx_3xx) {
                    unexpected.push(format!(
                        "{label} ({}, {phase}) answered {non_2xx_3xx} non-2xx/3xx",
                        run.placement.name()
                    ));
                }
            }
        }
        if !unexpected.is_empty() {
            bail!("the payload is allowed, yet {}", unexpected.join("; "));
        }
        Ok(())
    }
}

/// Runs the fixed-rate generator `command` and reads its report (its last stdout line).
fn fixed_rate(mut command: Command) -> Result<RateReport> {
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("{command:?} failed ({}):\n{stdout}{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    let line = stdout.lines().last().unwrap_or_default();
    RateReport::from_json(line).with_context(|| format!("cannot read the fixed-rate report {line:?}"))
}
