//! `hookgate reload`: asks a running `hookgate serve` to rebuild its policy tree now, through
//! the admin listener's `POST /api/reload` (the systemd unit's `ExecReload`), and prints each
//! tenant's outcome. Exit 0 when every tenant reloaded, 1 when one failed, 2 when the server
//! cannot be asked (no admin listener configured, unreachable, refused).

use anyhow::{Context as _, Result, bail};
use hookgate_server::{Overrides, ServerConfig};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Largest answer read: the per-tenant report of a large tree.
const MAX_ANSWER: usize = 16 << 20;

/// Arguments of `reload`: the config file `serve` runs with, for its admin address and token.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Config file (hookgate.toml) of the running server.
    #[arg(long, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address of the admin listener, overriding `[admin] listen`.
    #[arg(long, env = "HOOKGATE_ADMIN_LISTEN")]
    admin_listen: Option<String>,
    /// Seconds to wait for the reload to finish (every tenant is rebuilt before the answer).
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let overrides = Overrides { admin_listen: args.admin_listen.clone(), ..Overrides::default() };
    let config = ServerConfig::resolve(args.config.as_deref(), &overrides)?;
    let Some(listen) = config.admin.listen.as_deref() else {
        bail!("no admin listener to ask: set [admin] listen in the config file, or --admin-listen");
    };
    let token = hookgate_server::admin_access(&config)?.token;
    let address = loopback_for(listen)?;
    let (status, body) = post_reload(address, token.as_deref(), Duration::from_secs(args.timeout_s))
        .with_context(|| format!("cannot reach hookgate's admin listener at {address}"))?;
    if status != 200 {
        bail!("the admin listener at {address} answered {status}: {}", super::one_line(&body));
    }
    let report: Value = serde_json::from_str(&body).context("the reload answer is not JSON")?;
    let tenants = report["tenants"].as_array().context("the reload answer has no tenants list")?;
    let mut failed = 0;
    for tenant in tenants {
        // Tenant names and reload errors come from tenant folders: printed escaped, one line each.
        let name = super::one_line(tenant["tenant"].as_str().unwrap_or("?"));
        let generation = &tenant["generation"];
        match tenant["last_reload"]["outcome"].as_str() {
            Some("ok") => println!("{name}: ok, generation {generation}"),
            _ => {
                failed += 1;
                let error = super::one_line(tenant["last_reload"]["error"].as_str().unwrap_or("no outcome reported"));
                println!("{name}: FAILED, still serving generation {generation}: {error}");
            }
        }
    }
    println!("reloaded {} tenant(s), {failed} failed", tenants.len());
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The address to connect to for a listener bound to `listen`: a wildcard address is reached
/// through the loopback address of its family.
fn loopback_for(listen: &str) -> Result<SocketAddr> {
    let mut address = listen
        .to_socket_addrs()
        .with_context(|| format!("[admin] listen {listen:?} is not host:port"))?
        .next()
        .with_context(|| format!("[admin] listen {listen:?} names no address"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(address)
}

/// `POST /api/reload` (JSON, so that it needs no token on loopback when none is configured):
/// the status and the body, read up to [`MAX_ANSWER`] bytes, all within `timeout`.
fn post_reload(address: SocketAddr, token: Option<&str>, timeout: Duration) -> Result<(u16, String)> {
    super::tokio_runtime()?.block_on(async {
        let client = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(timeout).build()?;
        let mut request = client
            .post(format!("http://{address}/api/reload"))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.context("reading the answer")? {
            if body.len() + chunk.len() > MAX_ANSWER {
                bail!("the answer is longer than {MAX_ANSWER} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, String::from_utf8(body).context("the answer is not UTF-8")?))
    })
}
