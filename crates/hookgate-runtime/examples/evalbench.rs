//! Per-evaluation cost of one policy, without HTTP: fresh instance, evaluate, drop.
//!
//! ```sh
//! cargo run --release -p hookgate-runtime --example evalbench -- \
//!     policies/defaultApp/stream_guard.wasm tests/payloads/publishStream.json 2 '{"deny":["forbidden_*"]}'
//! ```
//!
//! Arguments: module, payload file, concurrent tasks (default 1), settings JSON (default `{}`).
//! Runs on a tokio runtime with the default worker count and prints evaluations per second.

use hookgate_runtime::{EvalLimits, Grants, HookInput, MethodKind, Runtime, RuntimeConfig};
use std::time::Instant;

const EVALUATIONS_PER_TASK: usize = 20_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: evalbench MODULE PAYLOAD [TASKS] [SETTINGS]";
    let module = std::fs::read(args.next().ok_or(usage)?)?;
    let payload: &'static str = String::leak(std::fs::read_to_string(args.next().ok_or(usage)?)?);
    let tasks: usize = args.next().map_or(Ok(1), |t| t.parse())?;
    let settings: &'static str = String::leak(args.next().unwrap_or_else(|| "{}".into()));

    let runtime = Runtime::new(RuntimeConfig::default())?;
    let policy = runtime.compile(&module)?.named("bench", "policy", 1_000);
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
            for _ in 0..EVALUATIONS_PER_TASK {
                policy.evaluate(&hook, limits, Grants::default()).await.map_err(|failure| failure.to_string())?;
            }
            Ok::<(), String>(())
        });
    }
    for result in set.join_all().await {
        result?;
    }
    let total = (EVALUATIONS_PER_TASK * tasks) as f64;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{tasks} task(s): {:.0} evaluations/s, {:.2} µs wall per evaluation",
        total / seconds,
        seconds * 1e6 / total
    );
    Ok(())
}
