//! The one error type of the HTTP layer: precise to WCS, quiet about internals.

use crate::client_text::client_text;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookgate_engine::LogBudget;
use std::sync::LazyLock;

/// Refused requests logged per second, over the whole process; the next line logged says how
/// many were held back.
const REFUSALS_LOGGED_PER_SECOND: u32 = 5;

/// A request hookgate refuses before any policy runs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The content type is not `application/json` (shown escaped and cut: it is the client's).
    #[error("unsupported content type '{}': hooks must be sent as application/json", client_text(.0))]
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
    /// The admin listener was reached under a name that is not its own (DNS rebinding).
    #[error(
        "host '{}' is not this admin listener: use localhost, 127.0.0.1 or [::1], or list the name in [admin] allowed_hosts",
        client_text(.0)
    )]
    MisdirectedHost(String),
    /// A web page of another origin (or site) sent the request to the admin listener.
    #[error("cross-origin request refused ({}): the admin API answers no web page of another origin", client_text(.0))]
    CrossOrigin(String),
    /// The admin bearer token is missing or wrong.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// `POST /api/reload` without a JSON content type: a request any web page could send.
    #[error("POST /api/reload needs Content-Type: application/json (or the admin bearer token)")]
    ReloadContentType,
    /// No such route.
    #[error("not found: hooks are POST /{{prefix…}}/{{method}}; health is GET /healthz and /readyz")]
    NotFound,
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::ContentType(_) | ApiError::ReloadContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::CrossOrigin(_) => StatusCode::FORBIDDEN,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyRead(_) | ApiError::BadHook(_) => StatusCode::BAD_REQUEST,
            ApiError::NoMethod | ApiError::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        static LOGGED: LazyLock<LogBudget> = LazyLock::new(|| LogBudget::new(REFUSALS_LOGGED_PER_SECOND));
        let status = self.status();
        if let Some(held_back) = LOGGED.take() {
            tracing::info!(status = status.as_u16(), held_back, "refused request: {self}");
        }
        let mut response =
            json_response(status, serde_json::json!({ "error": self.to_string() }).to_string().into_bytes());
        if let ApiError::Unauthorized(_) = self {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
