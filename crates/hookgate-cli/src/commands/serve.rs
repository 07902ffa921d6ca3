//! `hookgate serve`: the hook listener (and the admin listener when configured).

use anyhow::{Context as _, Result, bail};
use hookgate_config::ServerFile;
use hookgate_runtime::{Runtime, RuntimeConfig};
use hookgate_server::{AppState, DEFAULT_BODY_LIMIT};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::net::TcpListener;

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
    /// Address of the admin listener (health) [default: off].
    #[arg(long, env = "HOOKGATE_ADMIN_LISTEN")]
    admin_listen: Option<String>,
    /// Address of the WebSocket event service [default: off].
    #[arg(long, env = "HOOKGATE_EVENTS_LISTEN")]
    events_listen: Option<String>,
    /// Largest accepted hook body in bytes [default: 1048576].
    #[arg(long, env = "HOOKGATE_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "HOOKGATE_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let file = match &args.config {
        Some(path) => hookgate_config::load_server_file(path)?,
        None => ServerFile::default(),
    };
    let json = args.log_format.as_deref().or(file.log.format.as_deref()) == Some("json");
    super::init_logging(file.log.level.as_deref().unwrap_or("info"), json);

    let policies = args.policies.or(file.policies).unwrap_or_else(|| PathBuf::from("policies"));
    let listen = args.listen.or(file.hooks.listen).unwrap_or_else(|| "127.0.0.1:8090".into());
    let admin_listen = args.admin_listen.or(file.admin.listen);
    if let Some(events) = args.events_listen.or(file.web_socket_events.socket_address()) {
        bail!("the WebSocket event service ({events}) is not part of this build yet; remove the setting");
    }
    let body_limit = args.body_limit.or(file.body_limit).unwrap_or(DEFAULT_BODY_LIMIT);
    let runtime_config = RuntimeConfig {
        max_concurrent: file.max_concurrent.unwrap_or(RuntimeConfig::default().max_concurrent),
        ..RuntimeConfig::default()
    };

    let runtime = Runtime::new(runtime_config)
        .map_err(|err| anyhow::anyhow!("{err:#}"))
        .context("cannot start the wasm engine")?;
    super::tokio_runtime()?.block_on(async move {
        let (tenants, issues) = hookgate_engine::load_tree(&runtime, &policies).await;
        for issue in &issues {
            tracing::error!(tenant = %issue.tenant, "{}", issue.message);
        }
        if let Some(issue) = issues.iter().find(|issue| issue.tenant_skipped) {
            bail!("cannot serve {}: {}", policies.display(), issue.message);
        }
        let names: Vec<_> = tenants.iter().map(|tenant| tenant.name.clone()).collect();
        tracing::info!(policies = %policies.display(), tenants = ?names, "policy tree loaded");

        let state = AppState::new(tenants, body_limit);
        let hooks = TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let hooks_addr = hooks.local_addr()?;
        let mut servers = tokio::task::JoinSet::new();
        servers.spawn(hookgate_server::serve(hooks, hookgate_server::router(state.clone()), shutdown_signal()));
        println!("hookgate listening: hooks=http://{hooks_addr}");
        if let Some(admin_listen) = admin_listen {
            let admin =
                TcpListener::bind(&admin_listen).await.with_context(|| format!("cannot listen on {admin_listen}"))?;
            println!("hookgate listening: admin=http://{}", admin.local_addr()?);
            servers.spawn(hookgate_server::serve(admin, hookgate_server::router(state), shutdown_signal()));
        }
        tracing::info!(hooks = %hooks_addr, body_limit, "serving");
        while let Some(result) = servers.join_next().await {
            result.context("listener task failed")?.context("listener failed")?;
        }
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
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
    tracing::info!("shutdown signal received: finishing in-flight hooks");
}
