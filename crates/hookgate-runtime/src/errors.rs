//! Why a policy could not be loaded, and why an evaluation failed.

/// A module that cannot become a [`crate::Policy`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not start with the WebAssembly magic `\0asm` (text is not compiled).
    #[error("not a WebAssembly binary")]
    NotWasm,
    /// The binary is malformed: the parser's message and the byte offset.
    #[error("not a valid WebAssembly binary: {0} (at offset {1:#x})")]
    Malformed(String, usize),
    /// The module defines more functions than the operator allows.
    #[error("the module defines more than {max} functions ([tenants] max_functions in hookgate.toml)")]
    TooManyFunctions {
        /// The bound.
        max: u32,
    },
    /// The bytes are not a valid component for this engine.
    #[error("not a valid hookgate policy component")]
    Compile(#[source] wasmtime::Error),
    /// The component needs something hookgate does not link, or does not export the world.
    #[error("component cannot be linked against hookgate:policy@0.1.0")]
    Link(#[source] wasmtime::Error),
}

/// Why one evaluation produced no verdict. Each maps to a fallback cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The guest trapped (panic, `unreachable`, out-of-bounds access, stack overflow, …).
    #[error("policy trapped: {0}")]
    Trap(String),
    /// The guest ran past its deadline.
    #[error("policy exceeded its deadline of {0} ms")]
    Deadline(u64),
    /// The guest tried to grow its memory past the cap.
    #[error("policy exceeded its memory limit of {0} MiB")]
    Memory(u64),
    /// The guest returned `err(...)`.
    #[error("policy returned an error: {0}")]
    Error(String),
    /// The guest returned a verdict that breaks the contract.
    #[error("policy returned an invalid verdict: {0}")]
    BadOutput(String),
    /// The instance could not be created.
    #[error("policy could not be instantiated: {0}")]
    Instantiate(String),
    /// The verdict is larger than the output limit.
    #[error("policy returned a verdict of {0} bytes, over the limit of {1} bytes")]
    OutputTooLarge(usize, usize),
    /// The policy called `log` more often than one evaluation may.
    #[error("policy made more than {0} log calls in one evaluation")]
    LogFlood(u32),
}

impl Failure {
    /// A short, stable name for metrics and decision logs.
    pub fn cause(&self) -> &'static str {
        match self {
            Failure::Trap(_) => "trap",
            Failure::Deadline(_) => "deadline",
            Failure::Memory(_) => "memory",
            Failure::Error(_) => "error",
            Failure::BadOutput(_) => "bad-output",
            Failure::Instantiate(_) => "instantiate",
            Failure::OutputTooLarge(..) => "output-size",
            Failure::LogFlood(_) => "log-flood",
        }
    }
}
