//! [`OtlpClient`]: the HTTP client the OTLP exporter posts span batches with, the workspace's
//! reqwest on a runtime of its own (the exporter runs on the SDK's batch thread, outside any
//! tokio runtime, and must never use the server's).

use axum::http::{Request, Response};
use opentelemetry_http::{Bytes, HttpClient, HttpError};

/// Largest collector answer read: an OTLP answer is a small status message.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Posts OTLP requests, one at a time, on its own current-thread runtime.
#[derive(Debug)]
pub(crate) struct OtlpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl OtlpClient {
    /// A client whose requests, answer included, take at most `timeout`.
    pub(crate) fn new(timeout: std::time::Duration) -> std::io::Result<OtlpClient> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(std::io::Error::other)?;
        Ok(OtlpClient { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self.client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
        self.runtime.block_on(async {
            let mut answer = request.send().await?;
            let mut response = Response::builder().status(answer.status());
            let mut read = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if read.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(Box::new(opentelemetry_http::ResponseBodyTooLarge::new()) as HttpError);
                }
                read.extend_from_slice(&chunk);
            }
            if let Some(headers) = response.headers_mut() {
                *headers = std::mem::take(answer.headers_mut());
            }
            Ok(response.body(Bytes::from(read))?)
        })
    }
}
