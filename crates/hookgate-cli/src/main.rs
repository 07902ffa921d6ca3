//! `hookgate`: a policy backend for Flashphoner WCS REST hooks.

mod commands;
mod kit;
mod toolchain;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc: per-thread free lists. With glibc malloc, the two tokio workers contended on its
/// arena locks for every hook (futex waits were ~6 % of the server's time under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A policy backend for Flashphoner WCS REST hooks: every hook decided by sandboxed wasm policies.
#[derive(Parser)]
#[command(name = "hookgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve WCS hooks with the policy tree.
    Serve(commands::serve::Args),
    /// Parse every tenant of a policy tree and compile every module; non-zero on any problem.
    Check(commands::check::Args),
    /// Print the answer hookgate would give to one payload.
    Eval(commands::eval::Args),
    /// Run the `tests/*.json` cases of a policy tree or tenant; non-zero on any failure.
    Test(commands::test::Args),
    /// Build a policy (Rust, Python, JavaScript or C) into a policy component.
    Build(commands::build::Args),
    /// Start a policy in Rust, Python, JavaScript or C from its template.
    New(commands::new::Args),
    /// Ask a running `hookgate serve` to reload its policy tree (the admin API's /api/reload).
    Reload(commands::reload::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Test(args) => commands::test::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Reload(args) => commands::reload::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hookgate: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
