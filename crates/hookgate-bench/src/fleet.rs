//! `hookgate-bench state`: one hookgate instance serving the shipped `roomsApp` tenant
//! (`publisher-quota`, which keeps its slots in `state`), with the in-process state backend and
//! with Redis (`--redis-url`, a `redis-server` this command starts), loaded by the same wrk
//! script in the same run.
//!
//! Every wrk connection plays publishers: a `publishStream` of a session of its own (one
//! `state.claim`: claims the stream name and notes it in the session, refused past 3 live
//! claims), then that session's `ConnectionStatusEvent` DISCONNECTED (one `state.release`, then
//! chat-relay's `keys`, then the session's keys are deleted). Bodies are unique, so no hook is a
//! retried delivery answered from the journal.

use crate::load::{self, LoadShape, WrkReport};
use crate::process::{self, ServerProcess};
use crate::report::{self, Machine, Row};
use anyhow::{Context, Result, bail};
use hookgate_testkit::RedisServer;
use std::path::PathBuf;

/// Arguments of `state`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StateArgs {
    /// The wrk load, the same for both backends.
    #[command(flatten)]
    shape: LoadShape,
    /// Rounds; the backends alternate and the table shows medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// The hookgate binary.
    #[arg(long, default_value = "target/release/hookgate")]
    hookgate: PathBuf,
    /// The policy tree (its `roomsApp` tenant is loaded).
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
}

/// The wrk script: each connection alternates a publish and the end of its session.
const SCRIPT: &str = r#"-- hookgate-bench state: publishers that come and go, each with a session of its own.
local connection = 0
local hooks = 0
local run = tostring(os.time()) .. "-" .. tostring(math.random(1000000))
local headers = { ["Content-Type"] = "application/json" }
init = function(args)
  connection = math.random(1000000000)
end
request = function()
  hooks = hooks + 1
  local session = run .. "-" .. connection .. "-" .. math.floor((hooks + 1) / 2)
  if hooks % 2 == 1 then
    local body = '{"appKey":"roomsApp","sessionId":"' .. session .. '","mediaSessionId":"m-' .. session ..
      '","name":"' .. session .. '","published":true,"status":"NEW"}'
    return wrk.format("POST", "/rest/publishStream", headers, body)
  end
  local body = '{"appKey":"roomsApp","sessionId":"' .. session .. '","status":"DISCONNECTED"}'
  return wrk.format("POST", "/rest/ConnectionStatusEvent", headers, body)
end
"#;

/// A state backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    InProcess,
    Redis,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::InProcess => "in-process state",
            Backend::Redis => "Redis state",
        }
    }
}

const BACKENDS: [Backend; 2] = [Backend::InProcess, Backend::Redis];

/// Runs the comparison and prints it.
pub(crate) fn run(args: &StateArgs) -> Result<()> {
    process::ensure_built(&args.hookgate, "policies")?;
    let work = tempfile::tempdir().context("cannot create a scratch directory")?;
    let script = work.path().join("publishers.lua");
    std::fs::write(&script, SCRIPT).context("cannot write the wrk script")?;
    let redis = RedisServer::spawn()?;
    args.shape.validate()?;
    let shape = &args.shape;
    let machine = Machine::detect();
    println!("hookgate-bench state: one hookgate, publisher-quota (roomsApp), in-process state vs Redis, same run");
    println!("machine:  nproc {}, {}", machine.nproc, machine.cpu_model);
    println!("redis:    {} (redis-server on loopback, no persistence)", redis.url());
    println!("load:     {} (publishStream, then the session's DISCONNECTED)", {
        load::command_line(shape, &script, "http://<hookgate>/").join(" ")
    });

    let mut rows: Vec<Row> = BACKENDS.iter().map(|b| Row { label: b.label(), samples: Vec::new() }).collect();
    for round in 0..args.rounds as usize {
        for step in 0..BACKENDS.len() {
            let index = (round + step) % BACKENDS.len();
            let backend = BACKENDS[index];
            let sample = measure(args, backend, &redis, shape, &script, work.path())
                .with_context(|| format!("{} (round {})", backend.label(), round + 1))?;
            println!("round {}/{}  {:<17} {}", round + 1, args.rounds, backend.label(), report::sample_line(&sample));
            rows[index].samples.push(sample);
        }
    }

    println!("\n| backend | hooks/s | p50 | p99 | non-2xx | vs in-process |");
    println!("|---|---|---|---|---|---|");
    let summaries: Vec<_> = rows.iter().map(Row::summary).collect();
    for summary in &summaries {
        println!(
            "| {} | {:.0} | {} | {} | {} | {:.2}× |",
            summary.label,
            summary.hooks_per_sec,
            report::latency(summary.p50),
            report::latency(summary.p99),
            summary.non_2xx_3xx,
            summary.hooks_per_sec / summaries[0].hooks_per_sec
        );
    }
    if let Some(summary) = summaries.iter().find(|s| s.socket_errors > 0) {
        bail!("{}: {} socket errors", summary.label, summary.socket_errors);
    }
    Ok(())
}

/// One wrk run against a fresh hookgate with `backend`.
fn measure(
    args: &StateArgs,
    backend: Backend,
    redis: &RedisServer,
    shape: &LoadShape,
    script: &std::path::Path,
    work: &std::path::Path,
) -> Result<WrkReport> {
    let mut command = process::hookgate_serve(&args.hookgate, &args.policies);
    if backend == Backend::Redis {
        command.args(["--redis-url", &redis.url()]);
    }
    let log = work.join(format!("hookgate-{backend:?}.log"));
    let server = ServerProcess::spawn(command, process::HOOKGATE_READY, log)?;
    let argv = load::command_line(shape, script, &format!("http://{}/", server.addr()));
    let sample = load::run(&argv)?;
    server.stop()?;
    Ok(sample)
}
