//! CPU per hook of the request path without HTTP: one tenant folder loaded as `hookgate serve`
//! loads it, then the same hook decided many times in a row on one thread
//! (`TenantSet::decide`: parse, route, chain, answer, session tracking).
//!
//! ```sh
//! cargo run --release -p hookgate-engine --example decidebench -- \
//!     policies/defaultApp tests/payloads/publishStream.json publishStream [HOOKS]
//! ```
//!
//! Prints hooks per second and the process's CPU time (user + system, `/proc/self/stat`) per
//! hook, so that the server's CPU per hook (`hookgate-bench run --pin`) can be split into the
//! decision and what is around it (HTTP, connections, metrics).

use hookgate_config::TenantBounds;
use hookgate_engine::{HookRequest, Services, TenantSet};
use hookgate_runtime::{Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, payload, method, rest @ ..] = args.as_slice() else {
        return Err("usage: decidebench TENANT_DIR PAYLOAD METHOD [HOOKS]".into());
    };
    let hooks: u32 = rest.first().map_or(Ok(100_000), |n| n.parse())?;
    let folder = PathBuf::from(folder);
    let name = folder.file_name().and_then(|name| name.to_str()).ok_or("tenant folder has no name")?;
    let body = std::fs::read(payload)?;

    let runtime = Runtime::new(RuntimeConfig::default())?;
    let (tenant, problems) = hookgate_engine::load_tenant(&runtime, name, &folder, &TenantBounds::default()).await?;
    if !problems.is_empty() {
        return Err(format!("{name}: {problems:?}").into());
    }
    let set = TenantSet::new([tenant]);
    let services = Services::in_process();
    let request = || HookRequest { method, body: &body, authorization: None, received_ms: 0 };
    let first = set.decide(request(), &services).await.map_err(|err| format!("{err:?}"))?;
    println!("answer: {} {:?}", first.status, first.note);

    for _ in 0..hooks / 10 {
        set.decide(request(), &services).await.map_err(|err| format!("{err:?}"))?;
    }
    let (wall, cpu) = (Instant::now(), cpu_seconds()?);
    for _ in 0..hooks {
        set.decide(request(), &services).await.map_err(|err| format!("{err:?}"))?;
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds()? - cpu);
    println!(
        "{hooks} hooks: {:.0} hooks/s, {:.2} µs wall and {:.2} µs CPU per hook",
        f64::from(hooks) / wall,
        wall * 1e6 / f64::from(hooks),
        cpu * 1e6 / f64::from(hooks)
    );
    Ok(())
}

/// User + system CPU time of this process so far, in seconds (clock ticks of `/proc/self/stat`).
fn cpu_seconds() -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').ok_or("bad /proc/self/stat")?.1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}
