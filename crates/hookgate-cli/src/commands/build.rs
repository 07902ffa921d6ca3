//! `hookgate build POLICY_DIR -o OUT [--lang LANG]`: builds a policy in any of the guest
//! languages into a component, in any folder (`toolchain` finds the tools, the author kit
//! gives the WIT and the recipes of Python, JavaScript and C).

use crate::kit::Kit;
use crate::toolchain::{self, Lang};
use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Arguments of `build`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The policy folder: a Rust crate using hookgate-sdk (Cargo.toml), or a Python (app.py),
    /// JavaScript (policy.js) or C (policy.c) policy.
    plugin: PathBuf,
    /// Where to write the component.
    #[arg(short, long)]
    out: PathBuf,
    /// The policy's language [default: from the folder's files].
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// Cargo target folder for a Rust build.
    #[arg(long, env = "HOOKGATE_GUEST_TARGET_DIR", default_value = "target/wasm")]
    target_dir: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let lang = match args.lang {
        Some(lang) => lang,
        None => Lang::detect(&args.plugin)?,
    };
    let out = std::path::absolute(&args.out)?;
    if lang == Lang::Rust {
        toolchain::check_rust(&args.plugin)?;
        let target_dir = std::path::absolute(&args.target_dir)?;
        hookgate_build::build_rust_policy(&args.plugin, &out, &target_dir)?;
    } else {
        build_with_recipe(lang, &args.plugin, &out)?;
    }
    println!("built {} -> {} ({})", args.plugin.display(), args.out.display(), lang.title());
    Ok(ExitCode::SUCCESS)
}

/// Runs the kit's recipe of `lang` (`<kit>/<lang>/build.sh DIR OUT`) with the tools found, then
/// checks the component against the policy contract.
fn build_with_recipe(lang: Lang, dir: &Path, out: &Path) -> Result<()> {
    let kit = Kit::find()?;
    let env = toolchain::recipe_env(lang, &kit)?;
    let recipe = kit.path(&format!("{}/build.sh", lang.folder()));
    let status = Command::new("bash")
        .arg(&recipe)
        .arg(dir)
        .arg(out)
        .envs(env)
        .status()
        .with_context(|| format!("cannot run bash {}", recipe.display()))?;
    if !status.success() {
        bail!(
            "building the {} policy {} failed ({status}; {} printed why above)",
            lang.title(),
            dir.display(),
            recipe.display()
        );
    }
    let component = std::fs::read(out).with_context(|| format!("reading {}", out.display()))?;
    hookgate_build::check_policy_contract(&component)
        .with_context(|| format!("{} does not fit the hookgate:policy world", out.display()))?;
    Ok(())
}
