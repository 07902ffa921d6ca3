//! Why a message was refused, why a target is invalid, and why an outbox could not start.

/// Why [`Outbox::enqueue`](crate::Outbox::enqueue) refused a message. The message is not sent;
/// every refusal is counted in [`OutboxStats::dropped`](crate::OutboxStats::dropped).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The queue holds `capacity` messages already: WCS is slower than the policies.
    #[error("the send-data queue is full ({capacity} messages waiting)")]
    QueueFull {
        /// The configured queue capacity.
        capacity: usize,
    },
    /// [`Outbox::shutdown`](crate::Outbox::shutdown) has been called.
    #[error("the send-data outbox is shut down")]
    Closed,
    /// The target's base URL or Basic user cannot be used.
    #[error("invalid send-data target `{base_url}`")]
    InvalidTarget {
        /// The base URL as given, without any password it carried.
        base_url: String,
        /// What is wrong with it.
        #[source]
        reason: TargetError,
    },
}

/// What is wrong with a [`Target`](crate::Target).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The base URL does not parse.
    #[error("not a URL")]
    Parse(#[source] url::ParseError),
    /// Only `http` is supported.
    #[error("scheme `{0}` is not supported (only http: this build has no TLS)")]
    Scheme(String),
    /// Credentials in the URL would end up in logs; they belong in `Target::basic`.
    #[error("the URL carries credentials; give them as Target::basic")]
    Credentials,
    /// A query or fragment has no place in a base URL.
    #[error("a base URL takes no query or fragment")]
    QueryOrFragment,
    /// HTTP Basic cannot carry a user name with `:` in it.
    #[error("the Basic user name contains `:`")]
    BasicUser,
}

/// Why [`Outbox::start`](crate::Outbox::start) failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A value of the `[send_data]` table is out of range.
    #[error("send_data.{field} = {value} is out of range {min}..={max}")]
    Config {
        /// The key, as spelled in `hookgate.toml`.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// `start` was called outside a tokio runtime, so there is nowhere to spawn the sender.
    #[error("the send-data outbox must be started inside a tokio runtime")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// The HTTP client could not be built.
    #[error("cannot build the send-data HTTP client")]
    Client(#[source] reqwest::Error),
}
