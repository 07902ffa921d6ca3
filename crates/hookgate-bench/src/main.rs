//! `hookgate-bench`: hooks/s, latency and CPU per hook of hookgate and its peers, measured in
//! the same run.
//!
//! * `run` (`make bench`) serves the `stream-guard` rule six ways (an axum echo as the HTTP
//!   floor, the rule compiled natively into an axum handler, the rule in Rego through regorus,
//!   the rule as a Node.js script, and `hookgate serve` with a fresh instance per hook and with
//!   `reuse = true`), each in its own process, loads them unpinned and pinned with `wrk`, then at
//!   a fixed rate, and prints one markdown report.
//! * `state` compares one hookgate with the in-process state backend and with Redis, under
//!   publishers that come and go (`fleet`).
//! * `guests` measures stream-guard in each guest language (Rust, C, JavaScript, Python) through
//!   `hookgate serve`: module size, start and compile times, evaluation p50/p99, hooks/s.
//! * `fixed-rate` is the constant-rate load generator `run` uses (coordinated-omission corrected).
//! * `serve-echo`, `serve-native` and `serve-rego` are the in-process peers `run` spawns.

mod bench;
mod checks;
mod fleet;
mod guests;
mod load;
mod markdown;
mod native;
mod peers;
mod probe;
mod process;
mod rate;
mod rego;
mod report;
mod servers;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "hookgate-bench", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmark the axum echo, the native rule and hookgate side by side.
    Run(bench::BenchArgs),
    /// One hookgate with publisher-quota: in-process state against Redis state, same run.
    State(fleet::StateArgs),
    /// Benchmark stream-guard per guest language through hookgate serve (`make bench-guests`).
    Guests(guests::GuestArgs),
    /// Load one server at a constant request rate and print its latency (coordinated-omission
    /// corrected) as a JSON line; `run` uses it for its fixed-rate phase.
    FixedRate(rate::RateArgs),
    /// Serve the bare axum echo baseline (every POST answered 200 with its body).
    ServeEcho(servers::ServeArgs),
    /// Serve the stream-guard rule compiled natively into an axum handler.
    ServeNative(servers::ServeArgs),
    /// Serve the stream-guard rule in Rego, evaluated by regorus in an axum handler.
    ServeRego(servers::ServeArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => bench::run(&args),
        Command::State(args) => fleet::run(&args),
        Command::Guests(args) => guests::run(&args),
        Command::FixedRate(args) => rate::command(&args),
        Command::ServeEcho(args) => servers::serve(servers::Baseline::Echo, &args),
        Command::ServeNative(args) => servers::serve(servers::Baseline::Native, &args),
        Command::ServeRego(args) => servers::serve(servers::Baseline::Rego, &args),
    }
}
