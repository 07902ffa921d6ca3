//! `hookgate-bench guests`: stream-guard in each guest language, measured through `hookgate
//! serve` in one run, one language (and isolation mode) at a time:
//!
//! 1. **1st start**: a one-tenant tree with the language's build; the time from spawning
//!    `hookgate serve` to its listening line, which includes compiling the module (into an
//!    empty disk cache of its own, `--cache-dir`).
//! 2. **2nd start**: the same tree again, timed the same way: what a restart costs (the
//!    compiled module loaded from that disk cache). This server
//!    writes a decision log; `--evals` sequential hooks give the evaluation time of the policy
//!    (`us` of each line: instantiation and the call) as p50/p99.
//! 3. **wrk**: a third start without a decision log, the load of `hookgate-bench run`: hooks/s
//!    and HTTP p50/p99.
//!
//! Every server's answers are checked first (a forbidden name, a mixed-case name, the payload).
//! `--modes fresh,reuse` also runs each language with `reuse = true` in its policy table (the
//! opt-in instance reuse mode; a hookgate without that field refuses the tree, and the run stops
//! with its message).

use crate::bench::{WorkDir, check_stream_guard};
use crate::load::{self, LoadShape, WrkReport};
use crate::probe;
use crate::process::{self, ServerProcess};
use crate::report::{self, Machine};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `guests`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GuestArgs {
    /// Languages, in table order.
    #[arg(long, value_delimiter = ',', default_value = "rust,c,js,python")]
    langs: Vec<Lang>,
    /// Isolation modes: `fresh` (an instance per evaluation, the default) and `reuse`
    /// (`reuse = true` in the policy table).
    #[arg(long, value_delimiter = ',', default_value = "fresh")]
    modes: Vec<Mode>,
    /// Where `plugins/build-guests.sh` put the builds: `<lang>/stream_guard.wasm`.
    #[arg(long, default_value = "target/guest-policies")]
    modules: PathBuf,
    /// Hook body sent by every request (its `name` must be allowed).
    #[arg(long, default_value = "tests/payloads/publishStream.json")]
    payload: PathBuf,
    /// Sequential hooks whose evaluation times give the eval p50/p99.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(100..))]
    evals: u32,
    /// The wrk load.
    #[command(flatten)]
    load: LoadShape,
    /// Deadline per evaluation (`[limits] timeout_ms`): generous, so that the table measures
    /// speed; the default 50 ms counts time lost to other processes on a busy machine.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u32,
    /// The hookgate binary.
    #[arg(long, default_value = "target/release/hookgate")]
    hookgate: PathBuf,
}

/// A guest language with a stream-guard build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lang {
    /// `plugins/rust/stream-guard`.
    Rust,
    /// `plugins/c/stream-guard`.
    C,
    /// `plugins/js/stream-guard`.
    Js,
    /// `plugins/python/stream-guard`.
    Python,
}

impl Lang {
    /// The folder name under `plugins/` and `--modules`.
    fn folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }

    /// The one command that builds it (plugins/README.md).
    fn build_command(self) -> &'static str {
        match self {
            Lang::Rust => "hookgate build plugins/rust/stream-guard -o stream_guard.wasm",
            Lang::C => "plugins/c/build.sh plugins/c/stream-guard stream_guard.wasm",
            Lang::Js => "plugins/js/build.sh plugins/js/stream-guard stream_guard.wasm",
            Lang::Python => "plugins/python/build.sh plugins/python/stream-guard stream_guard.wasm",
        }
    }
}

/// How a policy's instances are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// A fresh instance per evaluation (the default isolation model).
    Fresh,
    /// `reuse = true`: instances reused between evaluations.
    Reuse,
}

/// One row of the table.
struct Measured {
    /// The language.
    lang: Lang,
    /// The isolation mode.
    mode: Mode,
    /// Module bytes.
    size: u64,
    /// 1st start: spawn to listening (compiles the module).
    first_start: Duration,
    /// 2nd start: the same, again.
    second_start: Duration,
    /// Evaluation time percentiles (p50, p99) over `--evals` sequential hooks.
    eval: (Duration, Duration),
    /// The wrk run.
    load: WrkReport,
}

/// The request path: stream-guard guards publishStream.
const PATH: &str = "/rest/publishStream";

/// Runs every language and mode, then prints the table.
pub(crate) fn run(args: &GuestArgs) -> Result<()> {
    process::ensure_built(&args.hookgate, "host")?;
    let payload =
        std::fs::read(&args.payload).with_context(|| format!("cannot read the payload {}", args.payload.display()))?;
    let work = WorkDir::create()?;
    let body = work.0.join("body.json");
    std::fs::write(&body, &payload).with_context(|| format!("cannot write {}", body.display()))?;
    let script = work.0.join("post.lua");
    load::write_script(&script, &body)?;
    args.load.validate()?;
    let shape = args.load.clone();
    let machine = Machine::detect();
    println!("hookgate-bench guests: stream-guard per guest language through hookgate serve, same run");
    println!("machine:  nproc {}, {}", machine.nproc, machine.cpu_model);
    println!("payload:  {} as POST {PATH}; {} sequential hooks for the eval times", args.payload.display(), args.evals);
    println!("load:     {}", load::command_line(&shape, &script, &format!("http://<server>{PATH}")).join(" "));
    let bench = GuestBench { args, payload, work, script, shape };
    let mut rows = Vec::new();
    for &mode in &args.modes {
        for &lang in &args.langs {
            let row = bench.measure(lang, mode).with_context(|| match mode {
                Mode::Fresh => format!("{} (fresh)", lang.folder()),
                Mode::Reuse => format!("{} (reuse: needs a hookgate with the `reuse` policy field)", lang.folder()),
            })?;
            rows.push(row);
        }
    }
    println!();
    print!("{}", table(&rows));
    Ok(())
}

/// What every measurement shares.
struct GuestBench<'a> {
    /// The run's arguments.
    args: &'a GuestArgs,
    /// The hook body.
    payload: Vec<u8>,
    /// Scratch directory: trees, logs, the wrk script.
    work: WorkDir,
    /// The wrk Lua script.
    script: PathBuf,
    /// The wrk load shape.
    shape: LoadShape,
}

impl GuestBench<'_> {
    /// Measures one language in one mode.
    fn measure(&self, lang: Lang, mode: Mode) -> Result<Measured> {
        let module = self.args.modules.join(lang.folder()).join("stream_guard.wasm");
        let size = std::fs::metadata(&module)
            .with_context(|| format!("no build at {}: run `make guests` (plugins/build-guests.sh)", module.display()))?
            .len();
        let stem = format!("{}-{}", lang.folder(), format!("{mode:?}").to_lowercase());
        let tree = self.work.0.join(&stem);
        self.write_tree(&tree, &module, mode)?;
        println!("\n{stem}: {} ({size} bytes)", module.display());

        let (first, first_start) = self.start(&tree, &format!("{stem}-1"), None)?;
        first.stop()?;
        println!("  1st start (compile)  {}", report::latency(first_start));

        let decisions = self.work.0.join(format!("{stem}.decisions"));
        let (second, second_start) = self.start(&tree, &format!("{stem}-2"), Some(&decisions))?;
        println!("  2nd start            {}", report::latency(second_start));
        for _ in 0..self.args.evals {
            let answer = probe::post_json(second.addr(), PATH, &self.payload)?;
            ensure!(answer.status == 200, "the payload got {} {}", answer.status, answer.body_text());
        }
        let eval = eval_percentiles(&decisions, self.args.evals as usize + 3)?;
        second.stop()?;
        println!("  eval p50 {}, p99 {}", report::latency(eval.0), report::latency(eval.1));

        let (server, _) = self.start(&tree, &format!("{stem}-3"), None)?;
        let argv = load::command_line(&self.shape, &self.script, &format!("http://{}{PATH}", server.addr()));
        println!("  $ {}", argv.join(" "));
        let load = load::run(&argv)?;
        server.stop()?;
        println!("  {}", report::sample_line(&load));
        if load.non_2xx_3xx > 0 || load.socket_errors > 0 {
            bail!("{} non-2xx/3xx answers and {} socket errors under load", load.non_2xx_3xx, load.socket_errors);
        }
        Ok(Measured { lang, mode, size, first_start, second_start, eval, load })
    }

    /// A tree whose `_default` tenant runs the module on publishStream with stream-guard's
    /// bench settings.
    fn write_tree(&self, tree: &Path, module: &Path, mode: Mode) -> Result<()> {
        let tenant = tree.join("_default");
        std::fs::create_dir_all(&tenant).with_context(|| format!("cannot create {}", tenant.display()))?;
        std::fs::copy(module, tenant.join("stream_guard.wasm"))
            .with_context(|| format!("cannot copy {}", module.display()))?;
        let reuse = if mode == Mode::Reuse { "reuse = true\n" } else { "" };
        let manifest = format!(
            "version = 1\n[limits]\ntimeout_ms = {}\n[policies.stream-guard]\nmodule = \"stream_guard.wasm\"\n\
             settings = {{ deny = [\"forbidden_*\"] }}\n{reuse}[methods.publishStream]\nchain = [\"stream-guard\"]\n\
             on_error = \"FAIL\"\noverwrite = [\"name\"]\n",
            self.args.timeout_ms
        );
        let path = tenant.join("tenant.toml");
        std::fs::write(&path, manifest).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Starts `hookgate serve` on `tree`, checks its answers; returns it and the time to listening.
    fn start(&self, tree: &Path, log: &str, decisions: Option<&Path>) -> Result<(ServerProcess, Duration)> {
        let mut command = process::hookgate_serve(&self.args.hookgate, tree);
        // A disk cache per tree: empty at the 1st start, a hit at the next ones.
        command.arg("--cache-dir").arg(tree.with_extension("cache"));
        if let Some(decisions) = decisions {
            command.arg("--decision-log").arg(decisions);
        }
        let started = Instant::now();
        let server = ServerProcess::spawn(command, process::HOOKGATE_READY, self.work.0.join(format!("{log}.log")))?;
        let elapsed = started.elapsed();
        check_stream_guard(server.addr(), PATH, "publishStream", &self.payload)
            .with_context(|| format!("wrong answer from {}{}", server.addr(), server.log_tail()))?;
        Ok((server, elapsed))
    }
}

/// p50 and p99 of the policy evaluation times (`policies[0].us`) of the decision log, once it
/// holds `lines` lines (it is written by its own thread).
fn eval_percentiles(log: &Path, lines: usize) -> Result<(Duration, Duration)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))?;
        if text.lines().count() >= lines {
            break text;
        }
        ensure!(Instant::now() < deadline, "{} has fewer than {lines} lines", log.display());
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut us: Vec<u64> = text
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).with_context(|| format!("bad decision line {line}"))?;
            entry["policies"][0]["us"].as_u64().with_context(|| format!("no policies[0].us in {line}"))
        })
        .collect::<Result<_>>()?;
    us.sort_unstable();
    let at = |q: f64| Duration::from_micros(us[((us.len() - 1) as f64 * q).round() as usize]);
    Ok((at(0.50), at(0.99)))
}

/// The table, in Markdown (it goes into plugins/README.md as printed).
fn table(rows: &[Measured]) -> String {
    let mut out = String::from(
        "| language | mode | build (one command) | module | 1st start (compile) | 2nd start (cached load) | eval p50 | eval p99 | hooks/s | HTTP p50 | HTTP p99 |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out += &format!(
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {:.0} | {} | {} |\n",
            row.lang.folder(),
            format!("{:?}", row.mode).to_lowercase(),
            row.lang.build_command(),
            size(row.size),
            report::latency(row.first_start),
            report::latency(row.second_start),
            report::latency(row.eval.0),
            report::latency(row.eval.1),
            row.load.requests_per_sec,
            report::latency(row.load.p50),
            report::latency(row.load.p99),
        );
    }
    out
}

/// A byte count in KB or MB.
fn size(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.0} KB", bytes as f64 / 1e3) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_decision_log() {
        let dir = WorkDir::create().unwrap();
        let log = dir.0.join("d.log");
        let lines: Vec<String> =
            (1..=100).map(|us| format!(r#"{{"policies":[{{"policy":"p","verdict":"allow","us":{us}}}]}}"#)).collect();
        std::fs::write(&log, lines.join("\n")).unwrap();
        assert_eq!(eval_percentiles(&log, 100).unwrap(), (Duration::from_micros(51), Duration::from_micros(99)));
    }

    #[test]
    fn sizes() {
        assert_eq!(size(31_837), "32 KB");
        assert_eq!(size(18_414_463), "18.4 MB");
    }
}
