//! A micro benchmark of [`MemoryState`]: ops/s of `get` and `incr` from 2 concurrent tasks on a
//! 2-worker runtime, through the `StateBackend` trait as the runtime calls it.
//!
//! `cargo run --release -p hookgate-state --example statebench [ops-per-task]`

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate_state::{MemoryState, MemoryStateConfig, OpId, Scope, StateBackend};

const TASKS: u64 = 2;
/// Updates per simulated hook delivery: the journal then holds one entry per this many updates.
const UPDATES_PER_HOOK: u64 = 8;

#[derive(Debug, Clone, Copy)]
enum Bench {
    /// Both tasks read one key.
    Get,
    /// Both tasks increment one key (the contended case: one quota counter).
    IncrShared,
    /// Each task increments its own key (same tenant, so still one lock).
    IncrOwn,
    /// Each task increments a key of its own tenant (no shared lock).
    IncrOwnTenant,
}

impl Bench {
    fn label(self) -> &'static str {
        match self {
            Bench::Get => "get, one key",
            Bench::IncrShared => "incr, one key",
            Bench::IncrOwn => "incr, a key per task",
            Bench::IncrOwnTenant => "incr, a tenant per task",
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let ops: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| format!("ops-per-task {arg:?}: {e}"))?,
        None => 500_000,
    };
    println!("statebench: {TASKS} tasks x {ops} ops each, 2 worker threads");
    for bench in [Bench::Get, Bench::IncrShared, Bench::IncrOwn, Bench::IncrOwnTenant] {
        // A fresh store per bench, so each starts with an empty journal.
        let state = MemoryState::new(MemoryStateConfig::default());
        state.set("t0", &Scope::Tenant, "k", "value", None, OpId { hook: [0xff; 32], seq: 0 }).await?;
        let elapsed = run(&state, bench, ops).await?;
        let rate = (TASKS * ops) as f64 / elapsed.as_secs_f64();
        println!("{:<26} {:>12.0} ops/s  ({:.1} ns/op per task)", bench.label(), rate, 1e9 * TASKS as f64 / rate);
    }
    Ok(())
}

/// Runs `bench` on `TASKS` tasks at once; the wall time until all are done.
async fn run(state: &Arc<MemoryState>, bench: Bench, ops: u64) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let state = Arc::clone(state);
            tokio::spawn(async move {
                let tenant = match bench {
                    Bench::IncrOwnTenant => format!("t{task}"),
                    _ => "t0".to_owned(),
                };
                let key = match bench {
                    Bench::Get => "k".to_owned(),
                    Bench::IncrShared => "n".to_owned(),
                    Bench::IncrOwn | Bench::IncrOwnTenant => format!("n{task}"),
                };
                for i in 0..ops {
                    match bench {
                        Bench::Get => {
                            state.get(&tenant, &Scope::Tenant, &key).await?;
                        }
                        _ => {
                            state.incr(&tenant, &Scope::Tenant, &key, 1, None, op_id(task, i)).await?;
                        }
                    }
                }
                Ok::<_, hookgate_state::StateError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(start.elapsed())
}

/// The `OpId` of update `i` of task `task`: `UPDATES_PER_HOOK` updates per simulated hook.
fn op_id(task: u64, i: u64) -> OpId {
    let mut hook = [0u8; 32];
    hook[..8].copy_from_slice(&task.to_le_bytes());
    hook[8..16].copy_from_slice(&(i / UPDATES_PER_HOOK).to_le_bytes());
    OpId { hook, seq: (i % UPDATES_PER_HOOK) as u32 }
}
