//! `hookgate check DIR`.

use anyhow::Result;
use hookgate_engine::LoadedPolicy;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `check`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The policy tree (a folder of tenant folders).
    dir: PathBuf,
    /// Config file (hookgate.toml), checked whole; its `[tenants]` and `[limits]` bound the
    /// tenant folders as `serve` would [default: the built-in bounds].
    #[arg(long, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    super::init_logging("off", false);
    // Every section of the config file is checked, as `serve` would.
    let bounds = match &args.config {
        Some(file) => hookgate_server::ServerConfig::resolve(Some(file), &Default::default())?.tenant_bounds(),
        None => hookgate_config::TenantBounds::default(),
    };
    let runtime = super::wasm_runtime()?;
    let (tenants, issues) = super::tokio_runtime()?.block_on(hookgate_engine::load_tree(&runtime, &args.dir, &bounds));
    let mut tenants: Vec<_> = tenants.iter().collect();
    tenants.sort_by(|a, b| a.name.cmp(&b.name));
    for tenant in tenants {
        let mut names: Vec<_> = tenant.policies.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        println!("tenant {}: {} policies, {} method rules", tenant.name, names.len(), tenant.manifest.methods.len());
        for (name, policy) in names {
            match policy {
                LoadedPolicy::Ready(policy) => println!("  ok      {name}  sha256:{}", policy.digest()),
                LoadedPolicy::NotLoaded(_) => println!("  FAILED  {name}"),
            }
        }
    }
    for issue in &issues {
        let tenant = if issue.tenant.is_empty() { String::new() } else { format!("[{}] ", issue.tenant) };
        eprintln!("error: {tenant}{}", issue.message);
    }
    if issues.is_empty() {
        println!("policy tree {} is valid", args.dir.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s) in {}", issues.len(), args.dir.display());
        Ok(ExitCode::FAILURE)
    }
}
