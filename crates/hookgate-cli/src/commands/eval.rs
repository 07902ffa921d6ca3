//! `hookgate eval`: one payload through a tenant or a single policy.

use anyhow::{Context as _, Result, bail};
use hookgate_config::{MethodRule, PolicyDecl, TenantBounds, TenantManifest};
use hookgate_engine::{Body, Decision, HookRequest, TenantSet};
use hookgate_protocol::{OnError, method};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `eval`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["tenant", "policy"])))]
pub(crate) struct Args {
    /// A tenant folder (with tenant.toml): the hook goes through its chains, whatever its appKey.
    #[arg(long)]
    tenant: Option<PathBuf>,
    /// A single policy module: the hook goes through a chain of just this policy.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Settings (JSON) for --policy.
    #[arg(long, default_value = "{}", requires = "policy")]
    settings: String,
    /// Overwritable fields (comma-separated) for --policy.
    #[arg(long, value_delimiter = ',', requires = "policy")]
    overwrite: Vec<String>,
    /// The on_error of the method for --policy.
    #[arg(long, value_parser = ["FAIL", "LOG"], default_value = "FAIL", requires = "policy")]
    on_error: String,
    /// The hook method, e.g. publishStream.
    #[arg(long)]
    method: String,
    /// The JSON body ("-" for standard input).
    #[arg(long)]
    payload: PathBuf,
    /// The Authorization header WCS would send.
    #[arg(long)]
    authorization: Option<String>,
    /// Reception time in ms since the Unix epoch (default: now).
    #[arg(long)]
    received_ms: Option<u64>,
    /// Config file (hookgate.toml) whose `[tenants]` and `[limits]` bound the tenant folders
    /// as `serve` would [default: the built-in bounds].
    #[arg(long, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    super::init_logging("warn", false);
    let body = if args.payload == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        bytes
    } else {
        std::fs::read(&args.payload).with_context(|| format!("cannot read {}", args.payload.display()))?
    };
    let bounds = hookgate_config::load_tenant_bounds(args.config.as_deref())?;
    let runtime = super::wasm_runtime()?;
    let tokio = super::tokio_runtime()?;
    let (tenants, problems) = tokio.block_on(async {
        let (tenant, problems) = match (&args.tenant, &args.policy) {
            (Some(dir), _) => {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                hookgate_engine::load_tenant(&runtime, &name, dir, &bounds).await?
            }
            (None, Some(module)) => {
                let manifest = single_policy(module, &args, &bounds)?;
                hookgate_engine::build_tenant(&runtime, "eval", manifest, &bounds).await
            }
            (None, None) => bail!("give --tenant or --policy"),
        };
        anyhow::Ok((TenantSet::only(tenant), problems))
    })?;
    for problem in &problems {
        eprintln!("warning: {problem}");
    }
    let received_ms = args.received_ms.unwrap_or_else(hookgate_engine::now_ms);
    let request = HookRequest {
        method: &args.method,
        body: &body,
        authorization: args.authorization.as_deref().map(str::as_bytes),
        received_ms,
    };
    match tokio.block_on(tenants.decide(request, &hookgate_engine::Services::in_process())) {
        Ok(decision) => {
            print_decision(&decision, &body)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(bad) => {
            println!("400");
            println!("{}", serde_json::json!({ "error": bad.to_string() }));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A manifest with one policy on one method, with the default limits of `bounds`.
fn single_policy(module: &Path, args: &Args, bounds: &TenantBounds) -> Result<TenantManifest> {
    let settings: serde_json::Value = serde_json::from_str(&args.settings).context("--settings is not JSON")?;
    let dir = module.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
    let file = module.file_name().context("--policy names no file")?;
    let (canonical, kind) = match method::lookup(&args.method) {
        Some((canonical, kind)) => (Some(canonical.to_owned()), Some(kind)),
        None => (None, None),
    };
    let on_error = if args.on_error == "FAIL" { OnError::Fail } else { OnError::Log };
    Ok(TenantManifest {
        dir,
        limits: bounds.limits,
        auth: Default::default(),
        rest_api_initiated: Vec::new(),
        policies: BTreeMap::from([(
            "policy".to_owned(),
            PolicyDecl { module: file.into(), settings: settings.to_string(), capabilities: Vec::new(), reuse: false },
        )]),
        methods: vec![MethodRule {
            method: args.method.clone(),
            canonical,
            kind,
            chain: vec!["policy".to_owned()],
            on_error,
            overwrite: args.overwrite.clone(),
        }],
    })
}

/// Prints the status on the first line and the body after it; details go to stderr.
fn print_decision(decision: &Decision, received: &[u8]) -> Result<()> {
    for run in &decision.runs {
        eprintln!("policy {}: {}", run.policy, run.outcome);
    }
    if let Some(cause) = decision.fallback {
        eprintln!("fallback: {cause}");
    }
    if let Some(note) = &decision.note {
        eprintln!("note: {note}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", decision.status)?;
    out.write_all(match &decision.body {
        Body::Echo => received,
        Body::Json(bytes) => bytes,
    })?;
    writeln!(out)?;
    Ok(())
}
