//! `hookgate test DIR`: runs the `tests/*.json` cases of a policy tree or of one tenant
//! (format: `hookgate_engine::cases`).

use anyhow::{Context as _, Result};
use hookgate_config::MANIFEST_FILE;
use hookgate_engine::TenantSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `test`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// A policy tree, or one tenant folder.
    dir: PathBuf,
    /// Config file (hookgate.toml) whose `[tenants]` and `[limits]` bound the tenant folders
    /// as `serve` would [default: the built-in bounds].
    #[arg(long, env = "HOOKGATE_CONFIG")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    super::init_logging("error", false);
    let bounds = hookgate_config::load_tenant_bounds(args.config.as_deref())?;
    let runtime = super::wasm_runtime()?;
    let tokio = super::tokio_runtime()?;
    let single = args.dir.join(MANIFEST_FILE).is_file();
    let (tenants, folders) = tokio.block_on(async {
        if single {
            let name = tenant_name(&args.dir);
            let (tenant, problems) = hookgate_engine::load_tenant(&runtime, &name, &args.dir, &bounds).await?;
            report_problems(problems.iter().map(String::as_str));
            anyhow::Ok((TenantSet::only(tenant), vec![(name, args.dir.clone())]))
        } else {
            let (set, issues) = hookgate_engine::load_tree(&runtime, &args.dir, &bounds).await;
            report_problems(issues.iter().map(|issue| issue.message.as_str()));
            let folders = hookgate_config::tenant_dirs(&args.dir)
                .with_context(|| format!("cannot list {}", args.dir.display()))?;
            anyhow::Ok((set, folders))
        }
    })?;

    let (mut passed, mut failed) = (0usize, 0usize);
    for (tenant, folder) in folders {
        for (file, cases) in hookgate_engine::cases::load_cases(&folder, &bounds).map_err(anyhow::Error::msg)? {
            for case in cases {
                let label = format!("{}: {}", file.strip_prefix(&args.dir).unwrap_or(&file).display(), case.name);
                let expected_tenant = if single { None } else { Some(tenant.as_str()) };
                match tokio.block_on(case.run(&tenants, expected_tenant, hookgate_engine::now_ms())) {
                    Ok(()) => {
                        passed += 1;
                        println!("ok    {label}");
                    }
                    Err(err) => {
                        failed += 1;
                        println!("FAIL  {label}\n      {err}");
                    }
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if passed + failed == 0 {
        eprintln!("no test cases found under {}/*/tests/*.json", args.dir.display());
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn tenant_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|dir| dir.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn report_problems<'a>(problems: impl Iterator<Item = &'a str>) {
    for problem in problems {
        eprintln!("warning: {problem}");
    }
}
