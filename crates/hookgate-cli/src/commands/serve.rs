//! `hookgate serve`: parses its flags, resolves the configuration, and runs a
//! [`hookgate_server::Server`] until SIGTERM or Ctrl-C; SIGHUP reopens the decision log.

use anyhow::{Context as _, Result};
use hookgate_server::{DecisionLog, Overrides, Server, ServerConfig, Traces};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `serve`. Flags and `HOOKGATE_*` variables win over the config file.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Config file (hookgate.toml).
    #[arg(long, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
    /// The policy tree [default: policies].
    #[arg(long, env = "HOOKGATE_POLICIES")]
    policies: Option<PathBuf>,
    /// Address of the hook listener [default: 127.0.0.1:8090].
    #[arg(long, env = "HOOKGATE_LISTEN")]
    listen: Option<String>,
    /// Address of the admin listener (health, metrics, /api/policies) [default: off].
    #[arg(long, env = "HOOKGATE_ADMIN_LISTEN")]
    admin_listen: Option<String>,
    /// Address of the WebSocket event service, overriding `[webSocketEvents] address` and
    /// `port` (its keys and users come from the config file) [default: off].
    #[arg(long, env = "HOOKGATE_EVENTS_LISTEN")]
    events_listen: Option<String>,
    /// Redis shared with other hookgate instances (`state` and events), overriding
    /// `[cluster] redis_url` [default: none: this process keeps its own].
    #[arg(long, env = "HOOKGATE_REDIS_URL")]
    redis_url: Option<String>,
    /// Where compiled modules are cached by digest (restarts and reloads load them instead of
    /// compiling), or `off` [default: $XDG_CACHE_HOME/hookgate, else ~/.cache/hookgate]. Only
    /// hookgate's user may write there: wasmtime runs the native code it finds.
    #[arg(long, env = "HOOKGATE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Largest accepted hook body in bytes [default: 1048576].
    #[arg(long, env = "HOOKGATE_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "HOOKGATE_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Decision log: off, stdout, or a file to append to [default: off].
    #[arg(long, env = "HOOKGATE_DECISION_LOG")]
    decision_log: Option<String>,
    /// Milliseconds in-flight hooks get to finish after SIGTERM [default: 10000].
    #[arg(long, env = "HOOKGATE_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// Milliseconds a client gets to send request headers [default: 10000].
    #[arg(long, env = "HOOKGATE_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// Print the effective configuration (file, then variables and flags) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

impl Args {
    /// The flags and variables that win over the file.
    fn overrides(&self) -> Overrides {
        Overrides {
            policies: self.policies.clone(),
            listen: self.listen.clone(),
            admin_listen: self.admin_listen.clone(),
            events_listen: self.events_listen.clone(),
            redis_url: self.redis_url.clone(),
            cache_dir: self.cache_dir.clone(),
            body_limit: self.body_limit,
            log_format: self.log_format.clone(),
            decision_log: self.decision_log.clone(),
            shutdown_grace_ms: self.shutdown_grace_ms,
            header_read_timeout_ms: self.header_read_timeout_ms,
        }
    }
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let config = ServerConfig::resolve(args.config.as_deref(), &args.overrides())?;
    if args.print_config {
        print!("{}", toml::to_string(&config).context("cannot print the configuration")?);
        return Ok(ExitCode::SUCCESS);
    }
    let traces = start_traces(&config)?;
    super::init_logging_with_traces(&config.log.level, config.log.format == "json", traces.as_ref());
    let grace = config.shutdown_grace();
    let served = super::tokio_runtime()?.block_on(async move {
        let server = Server::from_config(config).await?;
        println!("hookgate listening: hooks=http://{}", server.hooks_address());
        if let Some(address) = server.admin_address() {
            println!("hookgate listening: admin=http://{address}");
        }
        if let Some(address) = server.events_address() {
            println!("hookgate listening: events=ws://{address}/ws");
        }
        reopen_on_sighup(server.decision_log())?;
        server.run(shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    });
    if let Some(traces) = traces {
        traces.shutdown(grace);
    }
    served
}

/// The OTLP export of hook spans when `[tracing]` is configured (its thread started).
fn start_traces(config: &ServerConfig) -> Result<Option<Traces>> {
    config.tracing.as_ref().map(Traces::start).transpose().context("cannot start the trace export")
}

/// Reopens the decision log at each SIGHUP (logrotate's `postrotate`), for as long as the
/// process runs. SIGHUP is watched even without a decision log file, so it never kills the server.
fn reopen_on_sighup(log: Option<DecisionLog>) -> Result<()> {
    let mut hangups =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot watch SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            // The decision log's writer says what it reopened; SIGHUP does nothing else.
            if let Some(log) = log.clone() {
                tracing::info!("SIGHUP: reopening the decision log");
                // Waits for room in a full queue: off the async workers.
                let _ = tokio::task::spawn_blocking(move || log.reopen()).await;
            } else {
                tracing::info!("SIGHUP: no decision log is configured, nothing to reopen");
            }
        }
    });
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!("cannot watch SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
