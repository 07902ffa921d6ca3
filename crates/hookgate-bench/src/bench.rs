//! `hookgate-bench run`: each server spawned in turn, checked, loaded with the same wrk
//! command, killed; rounds alternate the servers and the table reports medians.
//!
//! The servers: the axum echo (the HTTP floor), the stream-guard rule compiled natively, the
//! same rule in Rego (regorus in axum) and as a Node.js script, and hookgate on the shipped tree
//! (a fresh instance per hook) and on a copy of it with stream-guard `reuse = true`.

use crate::load::{self, LoadShape, WrkReport};
use crate::native::{self, Decision};
use crate::peers;
use crate::probe::{self, Answer};
use crate::process::{self, ServerProcess};
use crate::report::{self, Machine, Row};
use crate::servers;
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// Arguments of `run`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Hook body sent by every request.
    #[arg(long, default_value = "tests/payloads/publishStream.json")]
    payload: PathBuf,
    /// Hook method (last path segment); the native rule models the chain of publishStream and playStream.
    #[arg(long, default_value = "publishStream")]
    method: String,
    /// The wrk load.
    #[command(flatten)]
    load: LoadShape,
    /// Rounds; servers alternate round-robin and the table shows each server's medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// The hookgate binary.
    #[arg(long, default_value = "target/release/hookgate")]
    hookgate: PathBuf,
    /// The policy tree hookgate serves.
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// The Node.js binary that runs the Node.js peer.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// Pin each server to CPU 0 and wrk to CPU 1 (`taskset`), so that the load generator does
    /// not take the server's core; needs at least 2 CPUs.
    #[arg(long)]
    pin: bool,
}

/// The CPU each server runs on with `--pin`.
const SERVER_CPU: u32 = 0;
/// The CPU wrk runs on with `--pin`.
const LOAD_CPU: u32 = 1;

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
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

/// The servers, in table order.
const TARGETS: [Target; 6] =
    [Target::Echo, Target::Native, Target::Rego, Target::Node, Target::Hookgate, Target::HookgateReuse];

impl Target {
    /// Label in the output.
    fn label(self) -> &'static str {
        match self {
            Target::Echo => "axum echo",
            Target::Native => "native rule",
            Target::Rego => "Rego (regorus)",
            Target::Node => "Node.js",
            Target::Hookgate => "hookgate",
            Target::HookgateReuse => "hookgate reuse",
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
}

/// Everything fixed for the whole run.
struct Plan {
    /// The run's arguments.
    args: BenchArgs,
    /// The payload bytes.
    payload: Vec<u8>,
    /// What the stream-guard rule answers to the payload.
    expected: Decision,
    /// The request path, `/rest/{method}`.
    path: String,
    /// The load shape.
    shape: LoadShape,
    /// The wrk Lua script.
    script: PathBuf,
    /// Scratch directory (script, body copy, server logs), removed on drop.
    work: WorkDir,
    /// This executable, which serves the echo, the native rule and the Rego peer.
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
    let url_template = format!("http://<server>{}", plan.path);
    println!("hookgate-bench: the same load on {} servers, one at a time, same run", TARGETS.len());
    println!("machine:  nproc {}, {}", machine.nproc, machine.cpu_model);
    println!(
        "payload:  {} ({} bytes) as POST {}; stream-guard answers {} with {}",
        plan.args.payload.display(),
        plan.payload.len(),
        plan.path,
        plan.expected.status,
        match plan.expected.body {
            native::Body::Echo => "the received body",
            native::Body::Json(_) => "a new JSON body",
        }
    );
    println!("load:     {}", plan.wrk_command(&url_template).join(" "));
    if plan.args.pin {
        println!("pinned:   each server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU} (taskset)");
    }
    println!("rounds:   {} (servers alternated round-robin; the table shows per-metric medians)", plan.args.rounds);

    // Every server must answer correctly before any of them is loaded.
    for target in TARGETS {
        plan.preflight(target).with_context(|| format!("{} failed its check", target.label()))?;
    }
    println!("checked:  all {} servers answer the probes as the native rule does\n", TARGETS.len());

    let mut rows: Vec<Row> = TARGETS.iter().map(|t| Row { label: t.label(), samples: Vec::new() }).collect();
    for round in 0..plan.args.rounds as usize {
        for step in 0..TARGETS.len() {
            // Rotate the starting server each round so no server always follows the same one.
            let index = (round + step) % TARGETS.len();
            let target = TARGETS[index];
            let sample =
                plan.measure(target, round + 1).with_context(|| format!("{} (round {})", target.label(), round + 1))?;
            rows[index].samples.push(sample);
        }
    }

    let summaries: Vec<_> = rows.iter().map(Row::summary).collect();
    let echo = position(Target::Echo);
    let native = position(Target::Native);
    let hookgate = position(Target::Hookgate);
    println!();
    print!("{}", report::table(&summaries, echo, native));
    let ratio = summaries[hookgate].hooks_per_sec / summaries[native].hooks_per_sec;
    println!("\nhookgate / native rule = {ratio:.2}×");
    plan.check_error_counts(&summaries)
}

/// Index of `target` in [`TARGETS`].
fn position(target: Target) -> usize {
    TARGETS.iter().position(|t| *t == target).unwrap_or_default()
}

impl Plan {
    /// Reads the payload, works out the expected answer, writes the wrk script.
    fn new(args: &BenchArgs) -> Result<Self> {
        ensure!(
            native::is_guarded(&args.method),
            "--method {}: the native rule models the stream-guard chain (publishStream, playStream) only",
            args.method
        );
        args.load.validate()?;
        ensure!(
            !args.pin || std::thread::available_parallelism().map_or(0, usize::from) >= 2,
            "--pin needs at least 2 CPUs (the server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU})"
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
            payload,
            expected,
            path: format!("/rest/{}", args.method),
            shape: args.load.clone(),
            script,
            work,
            exe: std::env::current_exe().context("cannot locate the hookgate-bench executable")?,
            node_script,
            reuse_tree,
        })
    }

    /// Spawns `target`, checks its answers and kills it.
    fn preflight(&self, target: Target) -> Result<()> {
        let server = self.spawn(target)?;
        let addr = server.addr();
        self.check(target, addr).with_context(|| format!("wrong answer from {addr}{}", server.log_tail()))?;
        server.stop()
    }

    /// Spawns `target`, checks its answers (again: a fresh process), loads it with wrk and kills it.
    fn measure(&self, target: Target, round: usize) -> Result<WrkReport> {
        let server = self.spawn(target)?;
        let addr = server.addr();
        self.check(target, addr).with_context(|| format!("wrong answer from {addr}{}", server.log_tail()))?;
        let argv = self.wrk_command(&format!("http://{addr}{}", self.path));
        println!("round {round}/{}  {:<12} $ {}", self.args.rounds, target.label(), argv.join(" "));
        let cpu_before = server.cpu_time()?;
        let mut sample = load::run(&argv)?;
        let cpu = server.cpu_time()?.saturating_sub(cpu_before);
        sample.server_cpu_per_hook = u32::try_from(sample.requests.max(1)).ok().map(|requests| cpu / requests);
        println!("{:>9}  {:<12} {}", "", target.label(), report::sample_line(&sample));
        server.stop()?;
        Ok(sample)
    }

    /// The wrk command line for `url`, pinned to [`LOAD_CPU`] with `--pin`.
    fn wrk_command(&self, url: &str) -> Vec<String> {
        let argv = load::command_line(&self.shape, &self.script, url);
        if self.args.pin {
            ["taskset".into(), "-c".into(), LOAD_CPU.to_string()].into_iter().chain(argv).collect()
        } else {
            argv
        }
    }

    /// Starts `target` on a free port of 127.0.0.1 (on [`SERVER_CPU`] with `--pin`).
    fn spawn(&self, target: Target) -> Result<ServerProcess> {
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
        let command = if self.args.pin { process::pinned(&command, SERVER_CPU) } else { command };
        ServerProcess::spawn(command, ready, log)
    }

    /// Checks `target` answers correctly: the echo echoes; every other server denies a
    /// forbidden name, lower-cases a mixed-case one, and answers the payload and the
    /// [`EDGE_NAMES`] probes exactly as the native rule does.
    fn check(&self, target: Target, addr: SocketAddr) -> Result<()> {
        let post = |body: &[u8]| probe::post_json(addr, &self.path, body);
        if target == Target::Echo {
            let answer = post(&self.payload)?;
            return expect(&answer, &Decision { status: 200, body: native::Body::Echo }, &self.payload, "the payload");
        }
        check_stream_guard(addr, &self.path, &self.args.method, &self.payload)?;
        for name in EDGE_NAMES {
            let body = match name {
                Some(name) => with_name(&self.payload, name)?,
                None => without_name(&self.payload)?,
            };
            let what = format!("the probe with name {name:?}");
            expect(&post(&body)?, &native::decide(&self.args.method, &body), &body, &what)?;
        }
        Ok(())
    }

    /// Fails if a server answered non-2xx/3xx although stream-guard allows the payload.
    fn check_error_counts(&self, summaries: &[report::Summary]) -> Result<()> {
        let allowed = (200..400).contains(&self.expected.status);
        let unexpected: Vec<String> = summaries
            .iter()
            .filter(|s| s.non_2xx_3xx > 0 && (allowed || s.label == Target::Echo.label()))
            .map(|s| format!("{} answered {} non-2xx/3xx", s.label, s.non_2xx_3xx))
            .collect();
        if !unexpected.is_empty() {
            bail!("the payload is allowed, yet {}", unexpected.join("; "));
        }
        Ok(())
    }
}

/// Checks that the server at `addr` answers as stream-guard with settings
/// `{"deny": ["forbidden_*"]}` on `path`: it denies a forbidden name, lower-cases a mixed-case
/// one, and answers `payload` as the native rule does.
pub(crate) fn check_stream_guard(addr: SocketAddr, path: &str, method: &str, payload: &[u8]) -> Result<()> {
    let post = |body: &[u8]| probe::post_json(addr, path, body);
    let forbidden = with_string_name(payload, "forbidden_bench")?;
    let answer = post(&forbidden)?;
    let deny = r#"{"error":"stream name 'forbidden_bench' is forbidden","policy":"stream-guard"}"#;
    ensure!(
        answer.status == 403 && answer.body == deny.as_bytes(),
        "name 'forbidden_bench': expected 403 {deny}, got {} {}",
        answer.status,
        answer.body_text()
    );
    let mixed = with_string_name(payload, "Bench-MiXed")?;
    let answer = post(&mixed)?;
    let name = serde_json::from_slice::<Value>(&answer.body).ok().and_then(|v| v.get("name").cloned());
    ensure!(
        answer.status == 200 && name == Some(Value::from("bench-mixed")),
        "name 'Bench-MiXed': expected 200 with name 'bench-mixed', got {} {}",
        answer.status,
        answer.body_text()
    );
    expect(&answer, &native::decide(method, &mixed), &mixed, "the mixed-case probe")?;
    expect(&post(payload)?, &native::decide(method, payload), payload, "the payload")
}

/// Names (as JSON values; `None`: no `name` field) whose answers every rule server must give
/// exactly as the native rule does, beyond [`check_stream_guard`]'s probes: a forbidden name in
/// capitals, a name that only matches once lowercased, a non-ASCII mixed-case name, a name with
/// a quote, one that is not a string, and none at all.
const EDGE_NAMES: [Option<&str>; 6] = [
    Some(r#""FORBIDDEN_BENCH""#),
    Some(r#""Forbidden_bench""#),
    Some(r#""ÄÖ-Bench""#),
    Some(r#""bench-\"quoted\"-Cam""#),
    Some("7"),
    None,
];

/// `payload` with its `name` set to the JSON value `name`.
fn with_name(payload: &[u8], name: &str) -> Result<Vec<u8>> {
    let value: Value = serde_json::from_str(name).with_context(|| format!("bad probe name {name}"))?;
    let mut hook: Map<String, Value> = serde_json::from_slice(payload).context("the payload is not a JSON object")?;
    hook.insert("name".into(), value);
    serde_json::to_vec(&hook).context("cannot serialise a probe")
}

/// `payload` without its `name`.
fn without_name(payload: &[u8]) -> Result<Vec<u8>> {
    let mut hook: Map<String, Value> = serde_json::from_slice(payload).context("the payload is not a JSON object")?;
    hook.shift_remove("name");
    serde_json::to_vec(&hook).context("cannot serialise a probe")
}

/// `payload` with its `name` set to the string `name`.
fn with_string_name(payload: &[u8], name: &str) -> Result<Vec<u8>> {
    with_name(payload, &Value::from(name).to_string())
}

/// Checks `answer` against the `expected` decision for `sent`: same status, a JSON content
/// type, the received bytes for an echo, the same JSON document otherwise.
fn expect(answer: &Answer, expected: &Decision, sent: &[u8], what: &str) -> Result<()> {
    let json_type = answer.content_type.as_deref().is_some_and(|t| native::is_json_content_type(t.as_bytes()));
    ensure!(json_type, "{what}: content-type {:?}, expected application/json", answer.content_type);
    ensure!(
        answer.status == expected.status,
        "{what}: expected status {}, got {} {}",
        expected.status,
        answer.status,
        answer.body_text()
    );
    let want = expected.body_bytes(sent);
    let same = match expected.body {
        native::Body::Echo => answer.body == want,
        native::Body::Json(_) => same_json(&answer.body, want),
    };
    ensure!(same, "{what}: expected body {}, got {}", String::from_utf8_lossy(want), answer.body_text());
    Ok(())
}

/// Whether two byte strings are the same JSON document (keys in the same order too).
fn same_json(a: &[u8], b: &[u8]) -> bool {
    let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).ok().map(|v| v.to_string());
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a == b)
}
