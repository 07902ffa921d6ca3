//! A micro benchmark of the backends: ops/s of `get` and `incr` through the `StateBackend`
//! trait as the runtime calls it, on a 2-worker runtime: [`MemoryState`] from 2 concurrent
//! tasks, and [`RedisState`] on a local `redis-server` (over TCP) from 2 and from 32 tasks,
//! since a Redis call waits on a round trip and more calls in flight hide it.
//!
//! `cargo run --release -p hookgate-redis --example statebench [ops-per-task] [redis-ops]`
//!
//! `redis-ops` (default 40,000) is each Redis bench's total, split between its tasks. The
//! example starts `redis-server` on a free port and stops it at the end, unless
//! `HOOKGATE_BENCH_REDIS_URL` names a server to use (its database is flushed between benches).

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate_redis::{RedisState, RedisStateConfig};
use hookgate_state::{MemoryState, OpId, Scope, StateBackend, StateLimits};
use hookgate_testkit::RedisServer;

/// Updates per simulated hook delivery: the journal then holds one entry per this many updates.
const UPDATES_PER_HOOK: u64 = 8;
/// The Redis benches' concurrencies.
const REDIS_TASKS: [u64; 2] = [2, 32];

#[derive(Debug, Clone, Copy)]
enum Bench {
    /// All tasks read one key.
    Get,
    /// All tasks increment one key (the contended case: one quota counter).
    IncrShared,
    /// Each task increments its own key (same tenant, so still one lock, or one Redis slot).
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
    let mut args = std::env::args().skip(1);
    let ops = count(args.next(), "ops-per-task", 500_000)?;
    let redis_ops = count(args.next(), "redis-ops", 40_000)?;
    let (url, _server) = match std::env::var("HOOKGATE_BENCH_REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = RedisServer::spawn()
                .map_err(|e| format!("{e} (or set HOOKGATE_BENCH_REDIS_URL to use another server)"))?;
            (server.url(), Some(server))
        }
    };
    println!("statebench: ops/s, 2 worker threads; memory: 2 tasks x {ops} ops; redis: {redis_ops} ops per bench");
    println!("{:<26} {:>16} {:>16} {:>16}", "", "memory, 2 tasks", "redis, 2 tasks", "redis, 32 tasks");
    for bench in [Bench::Get, Bench::IncrShared, Bench::IncrOwn, Bench::IncrOwnTenant] {
        // A fresh store per bench, so each starts with an empty journal.
        let memory: Arc<dyn StateBackend> = MemoryState::new(StateLimits::default());
        let mut rates = vec![rate(memory, bench, 2, ops).await?];
        for tasks in REDIS_TASKS {
            flush(&url)?;
            let config = RedisStateConfig { call_timeout: Duration::from_secs(5), ..RedisStateConfig::new(&url) };
            let redis: Arc<dyn StateBackend> = RedisState::new(config)?;
            rates.push(rate(redis, bench, tasks, redis_ops / tasks).await?);
        }
        println!("{:<26} {:>16.0} {:>16.0} {:>16.0}", bench.label(), rates[0], rates[1], rates[2]);
    }
    Ok(())
}

/// The command-line count `arg` (named `name`), or `default`.
fn count(arg: Option<String>, name: &str, default: u64) -> Result<u64, Box<dyn Error>> {
    match arg {
        Some(arg) => Ok(arg.parse().map_err(|e| format!("{name} {arg:?}: {e}"))?),
        None => Ok(default),
    }
}

/// Runs `bench` on `tasks` tasks of `ops` calls each, on a store holding the key `get` reads;
/// the ops/s.
async fn rate(state: Arc<dyn StateBackend>, bench: Bench, tasks: u64, ops: u64) -> Result<f64, Box<dyn Error>> {
    state.set("t0", &Scope::Tenant, "k", "value", None, OpId { hook: [0xff; 32], seq: 0 }).await?;
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let state = Arc::clone(&state);
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
    for handle in handles {
        handle.await??;
    }
    Ok((tasks * ops) as f64 / start.elapsed().as_secs_f64())
}

/// The `OpId` of update `i` of task `task`: `UPDATES_PER_HOOK` updates per simulated hook.
fn op_id(task: u64, i: u64) -> OpId {
    let mut hook = [0u8; 32];
    hook[..8].copy_from_slice(&task.to_le_bytes());
    hook[8..16].copy_from_slice(&(i / UPDATES_PER_HOOK).to_le_bytes());
    OpId { hook, seq: (i % UPDATES_PER_HOOK) as u32 }
}

/// Empties the database at `url`: the benches reuse `OpId`s, which its journal would replay.
fn flush(url: &str) -> Result<(), Box<dyn Error>> {
    let mut connection = redis::Client::open(url)?.get_connection()?;
    redis::cmd("FLUSHDB").query::<()>(&mut connection)?;
    Ok(())
}
