//! One module per subcommand, plus what they share.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod eval;
pub(crate) mod new;
pub(crate) mod serve;
pub(crate) mod test;

use anyhow::Context as _;
use hookgate_runtime::{Runtime, RuntimeConfig};

/// A multi-threaded tokio runtime for a subcommand.
pub(crate) fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// The wasm engine with default sizing, for the offline subcommands.
pub(crate) fn wasm_runtime() -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeConfig::default())
        .map_err(|err| anyhow::anyhow!("{err:#}"))
        .context("cannot start the wasm engine")
}

/// Logs to stderr, filtered by `HOOKGATE_LOG` (else `default`), as text or JSON lines.
pub(crate) fn init_logging(default: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
