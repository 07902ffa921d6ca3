//! One message's delivery: its attempts, the waits between them, and its outcome.

use crate::config::Settings;
use crate::message::Job;
use crate::stats::Counters;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, StatusCode};
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// What one attempt came to.
enum Attempt {
    /// WCS answered 2xx.
    Delivered(StatusCode),
    /// WCS answered something else, or the request failed.
    Failed { retry: bool, cause: Cause },
}

/// Why an attempt failed, for the log.
enum Cause {
    Status(StatusCode),
    Transport(reqwest::Error),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Status(status) => write!(f, "HTTP {status}"),
            Cause::Transport(err) => {
                write!(f, "{err}")?;
                let mut source = err.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
        }
    }
}

/// Counts a message as dropped unless it reached an outcome, so that a delivery aborted at the
/// end of the shutdown grace is not lost from the counters.
struct Unsettled<'a> {
    stats: &'a Counters,
    settled: bool,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if !self.settled {
            Counters::bump(&self.stats.dropped);
        }
    }
}

/// Sends `job` until it is delivered, fails for good, or runs out of attempts. `_permit` is its
/// slot among the sends in flight, held until it returns (through the waits between attempts).
pub(crate) async fn deliver(
    client: Client,
    job: Job,
    settings: Arc<Settings>,
    stats: Arc<Counters>,
    _permit: OwnedSemaphorePermit,
) {
    let mut unsettled = Unsettled { stats: &stats, settled: false };
    let mut backoff = settings.backoff_initial;
    for attempt in 1..=settings.max_attempts {
        match send(&client, &job).await {
            Attempt::Delivered(status) => {
                tracing::debug!(
                    session_id = %job.session_id, operation_id = %job.operation_id, target = %job.url,
                    %status, attempt, "send-data delivered"
                );
                Counters::bump(&stats.sent);
                unsettled.settled = true;
                return;
            }
            Attempt::Failed { retry: true, cause } if attempt < settings.max_attempts => {
                tracing::debug!(
                    session_id = %job.session_id, operation_id = %job.operation_id, target = %job.url,
                    error = %cause, attempt, retry_in_ms = backoff.as_millis() as u64, "send-data attempt failed; retrying"
                );
                Counters::bump(&stats.retried);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(settings.backoff_max);
            }
            Attempt::Failed { retry, cause } => {
                tracing::warn!(
                    session_id = %job.session_id, operation_id = %job.operation_id, target = %job.url,
                    error = %cause, attempt, retryable = retry, "send-data failed; message given up"
                );
                Counters::bump(&stats.failed);
                unsettled.settled = true;
                return;
            }
        }
    }
}

/// One POST. The response body is read to its end so that the connection goes back to the pool.
async fn send(client: &Client, job: &Job) -> Attempt {
    let mut request = client
        .post(job.url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(job.body.clone());
    if let Some(authorization) = &job.authorization {
        request = request.header(AUTHORIZATION, authorization.clone());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return transport_failure(err),
    };
    let status = response.status();
    if let Err(err) = drain(response).await {
        // A 2xx whose body broke off was still accepted by WCS: sending it again would duplicate it.
        if !status.is_success() {
            return transport_failure(err);
        }
    }
    if status.is_success() {
        Attempt::Delivered(status)
    } else {
        Attempt::Failed { retry: status.is_server_error(), cause: Cause::Status(status) }
    }
}

/// Connect errors and timeouts are worth another try; anything else at the transport level
/// (a malformed response, a body error) is not.
fn transport_failure(err: reqwest::Error) -> Attempt {
    Attempt::Failed { retry: err.is_connect() || err.is_timeout(), cause: Cause::Transport(err) }
}

/// Reads and discards the response body.
async fn drain(mut response: reqwest::Response) -> Result<(), reqwest::Error> {
    while response.chunk().await?.is_some() {}
    Ok(())
}
