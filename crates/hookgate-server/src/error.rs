//! The one error type of the HTTP layer: precise to WCS, quiet about internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A request hookgate refuses before any policy runs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The content type is not `application/json`.
    #[error("unsupported content type '{0}': hooks must be sent as application/json")]
    ContentType(String),
    /// The body is larger than the configured limit.
    #[error("body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive in time.
    #[error("body not received within {0} s")]
    BodyTimeout(u64),
    /// The body could not be read from the connection.
    #[error("body could not be read: {0}")]
    BodyRead(String),
    /// The body is not a JSON object.
    #[error("{0}")]
    BadHook(#[from] hookgate_engine::BadHook),
    /// `POST /` carries no method name.
    #[error("no method in the path: hooks are POST /{{prefix…}}/{{method}}")]
    NoMethod,
    /// No such route.
    #[error("not found: hooks are POST /{{prefix…}}/{{method}}; health is GET /healthz and /readyz")]
    NotFound,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyRead(_) | ApiError::BadHook(_) => StatusCode::BAD_REQUEST,
            ApiError::NoMethod | ApiError::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::info!(status = status.as_u16(), "refused request: {self}");
        json_response(status, serde_json::json!({ "error": self.to_string() }).to_string().into_bytes())
    }
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
