//! `hookgate build PLUGIN_DIR -o OUT`.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `build`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The policy crate (a folder with Cargo.toml, using hookgate-sdk).
    plugin: PathBuf,
    /// Where to write the component.
    #[arg(short, long)]
    out: PathBuf,
    /// Cargo target folder for the wasm build.
    #[arg(long, env = "HOOKGATE_GUEST_TARGET_DIR", default_value = "target/wasm")]
    target_dir: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let target_dir = std::path::absolute(&args.target_dir)?;
    hookgate_build::build_rust_policy(&args.plugin, &args.out, &target_dir)?;
    println!("built {} -> {}", args.plugin.display(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
