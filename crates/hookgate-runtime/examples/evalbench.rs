//! Per-evaluation cost of one policy, without HTTP: compile (or load from the disk cache),
//! then evaluate the same hook many times, each in a fresh instance (or a kept one with
//! `--reuse`), timing every evaluation.
//!
//! ```sh
//! cargo run --release -p hookgate-runtime --example evalbench -- \
//!     policies/defaultApp/stream_guard.wasm tests/payloads/publishStream.json 2 '{"deny":["forbidden_*"]}' \
//!     [--reuse] [--evaluations N] [--cache DIR]
//! ```
//!
//! Arguments: module, payload file, concurrent tasks (default 1), settings JSON (default `{}`).
//! Options: `--reuse` evaluates in `reuse` mode; `--evaluations N` per task (default 20,000);
//! `--cache DIR` uses DIR as the disk cache of compiled modules (run twice to see a cached
//! load). Runs on a tokio runtime with the default worker count. Prints the compile time,
//! then one line per run: evaluations per second, wall time per evaluation, and the p50, p99
//! and max of the evaluations' own durations.

use hookgate_runtime::{EvalLimits, Grants, HookInput, MethodKind, Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: evalbench MODULE PAYLOAD [TASKS] [SETTINGS] [--reuse] [--evaluations N] [--cache DIR]";
    let mut positional = Vec::new();
    let (mut reuse, mut evaluations, mut cache_dir) = (false, 20_000_usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reuse" => reuse = true,
            "--evaluations" => evaluations = args.next().ok_or(usage)?.parse::<usize>()?.max(1),
            "--cache" => cache_dir = Some(std::path::absolute(PathBuf::from(args.next().ok_or(usage)?))?),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let module = std::fs::read(positional.next().ok_or(usage)?)?;
    let payload: &'static str = String::leak(std::fs::read_to_string(positional.next().ok_or(usage)?)?);
    let tasks: usize = positional.next().map_or(Ok(1), |t| t.parse())?;
    let settings: &'static str = String::leak(positional.next().unwrap_or_else(|| "{}".into()));

    let runtime = Runtime::new(RuntimeConfig { cache_dir, ..RuntimeConfig::default() })?;
    let started = Instant::now();
    let policy = runtime.compile(&module)?.named("bench", "policy", 1_000).reusing(reuse);
    let compiled = started.elapsed();
    match runtime.disk_cache() {
        Some(cache) => println!(
            "compiled in {compiled:.2?} (disk cache {}: {} hit(s), {} miss(es))",
            cache.dir.display(),
            cache.hits,
            cache.misses
        ),
        None => println!("compiled in {compiled:.2?} (no disk cache)"),
    }
    let limits = EvalLimits::default();
    let hook = HookInput {
        method: "publishStream",
        kind: MethodKind::Direct,
        app_key: "defaultApp",
        session_id: "bench",
        payload,
        settings,
        received_ms: 0,
    };
    println!("verdict: {:?}", policy.evaluate(&hook, limits, Grants::default()).await);

    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let policy = policy.clone();
        set.spawn(async move {
            let mut durations = Vec::with_capacity(evaluations);
            for _ in 0..evaluations {
                let one = Instant::now();
                policy.evaluate(&hook, limits, Grants::default()).await.map_err(|failure| failure.to_string())?;
                durations.push(one.elapsed());
            }
            Ok::<_, String>(durations)
        });
    }
    let mut durations = Vec::with_capacity(evaluations * tasks);
    for result in set.join_all().await {
        durations.extend(result?);
    }
    let seconds = started.elapsed().as_secs_f64();
    durations.sort_unstable();
    let at = |q: f64| durations.get(((durations.len() as f64 * q) as usize).min(durations.len() - 1));
    let micros = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e6);
    let total = durations.len() as f64;
    println!(
        "{tasks} task(s){}: {:.0} evaluations/s, {:.2} µs wall per evaluation; p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        if reuse { ", reuse" } else { "" },
        total / seconds,
        seconds * 1e6 / total,
        micros(at(0.50)),
        micros(at(0.99)),
        micros(durations.last()),
    );
    Ok(())
}
