//! [`Target`] (the WCS node to call) and [`DataMessage`] (the body of `/rest-api/data/send`).

use crate::errors::{Refused, TargetError};
use base64::Engine as _;
use bytes::Bytes;
use hookgate_config::Secret;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use std::fmt;
use url::Url;

/// The WCS node a message goes to: the node that sent the hook.
#[derive(Debug, Clone)]
pub struct Target {
    /// The REST API base URL of that node, e.g. `http://wcs1:8081`; the message is POSTed to
    /// `{base_url}/rest-api/data/send`. A path prefix is kept (`http://lb/wcs1` →
    /// `http://lb/wcs1/rest-api/data/send`).
    pub base_url: String,
    /// HTTP Basic user and password, when WCS runs with `disable_rest_auth=false`.
    pub basic: Option<(String, Secret)>,
}

/// The body of `/rest-api/data/send`, serialised exactly as WCS documents it:
/// `{"nodeId": …, "sessionId": …, "operationId": …, "payload": …}`. The client whose session it
/// names receives `payload` as the `custom` object of a `SESSION_STATUS.APP_DATA` event.
///
/// `Debug` leaves the payload out, so that a message logged by mistake does not leak it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataMessage {
    /// The WCS node id (`nodeId` of the hook); WCS's own example leaves it empty.
    pub node_id: String,
    /// The session of the connected client that receives the data.
    pub session_id: String,
    /// An id for this send, echoed nowhere by WCS but useful in its logs; may be empty.
    pub operation_id: String,
    /// Any JSON value.
    pub payload: serde_json::Value,
}

impl fmt::Debug for DataMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataMessage")
            .field("node_id", &self.node_id)
            .field("session_id", &self.session_id)
            .field("operation_id", &self.operation_id)
            .finish_non_exhaustive()
    }
}

/// A message ready to send: the URL resolved, the Basic header encoded (and marked sensitive),
/// the body serialised once for all attempts. Only what may be logged is kept beside it. No
/// `Debug`: the body is the payload.
pub(crate) struct Job {
    pub(crate) url: Url,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) body: Bytes,
    pub(crate) session_id: String,
    pub(crate) operation_id: String,
}

impl Job {
    /// Checks the target and prepares the request; this is all the work `enqueue` does.
    pub(crate) fn prepare(target: &Target, message: &DataMessage) -> Result<Job, Refused> {
        let invalid = |reason| Refused::InvalidTarget { base_url: redact(&target.base_url), reason };
        let url = send_url(&target.base_url).map_err(invalid)?;
        let authorization = match &target.basic {
            None => None,
            Some((user, password)) => Some(basic_header(user, password).map_err(invalid)?),
        };
        let body = serde_json::to_vec(message).expect("a DataMessage has string keys only, so it always serialises");
        Ok(Job {
            url,
            authorization,
            body: Bytes::from(body),
            session_id: message.session_id.clone(),
            operation_id: message.operation_id.clone(),
        })
    }
}

/// `{base_url}/rest-api/data/send`, refusing what would leak or cannot be sent.
fn send_url(base_url: &str) -> Result<Url, TargetError> {
    let mut url = Url::parse(base_url).map_err(TargetError::Parse)?;
    if url.scheme() != "http" {
        return Err(TargetError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TargetError::QueryOrFragment);
    }
    url.path_segments_mut().expect("an http URL always has a path").pop_if_empty().extend(["rest-api", "data", "send"]);
    Ok(url)
}

/// `Basic base64(user:password)`, marked sensitive so that `http`'s `Debug` hides it.
fn basic_header(user: &str, password: &Secret) -> Result<HeaderValue, TargetError> {
    if user.contains(':') {
        return Err(TargetError::BasicUser);
    }
    let mut credentials = Vec::with_capacity(user.len() + 1 + password.expose().len());
    credentials.extend_from_slice(user.as_bytes());
    credentials.push(b':');
    credentials.extend_from_slice(password.expose());
    let encoded = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
    let mut header = HeaderValue::from_str(&encoded).expect("base64 is always a valid header value");
    header.set_sensitive(true);
    Ok(header)
}

/// The base URL for an error message: without its password, if it parses and has one.
fn redact(base_url: &str) -> String {
    match Url::parse(base_url) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => base_url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_url_keeps_a_prefix_and_drops_a_trailing_slash() {
        assert_eq!(send_url("http://wcs1:8081").unwrap().as_str(), "http://wcs1:8081/rest-api/data/send");
        assert_eq!(send_url("http://wcs1:8081/").unwrap().as_str(), "http://wcs1:8081/rest-api/data/send");
        assert_eq!(send_url("http://lb/wcs1/").unwrap().as_str(), "http://lb/wcs1/rest-api/data/send");
    }

    #[test]
    fn send_url_refuses_what_it_cannot_send_or_would_leak() {
        assert!(matches!(send_url("wcs1:8081"), Err(TargetError::Scheme(_))));
        assert!(matches!(send_url("https://wcs1:8444"), Err(TargetError::Scheme(s)) if s == "https"));
        assert!(matches!(send_url("http://admin:pw@wcs1:8081"), Err(TargetError::Credentials)));
        assert!(matches!(send_url("http://wcs1:8081/?a=1"), Err(TargetError::QueryOrFragment)));
        assert!(matches!(send_url("http://"), Err(TargetError::Parse(_))));
    }

    #[test]
    fn a_refused_url_is_reported_without_its_password() {
        let target = Target { base_url: "http://admin:hunter2@wcs1:8081".into(), basic: None };
        let message = DataMessage {
            node_id: String::new(),
            session_id: "s".into(),
            operation_id: String::new(),
            payload: serde_json::Value::Null,
        };
        let Err(err) = Job::prepare(&target, &message) else { panic!("credentials in the URL are refused") };
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("admin@wcs1"), "{text}");
    }

    #[test]
    fn basic_header_is_encoded_and_hidden_from_debug() {
        let header = basic_header("admin", &Secret::new(b"hunter2".to_vec())).unwrap();
        assert_eq!(header.to_str().unwrap(), "Basic YWRtaW46aHVudGVyMg==");
        assert!(!format!("{header:?}").contains("YWRtaW46"));
        assert!(matches!(basic_header("a:b", &Secret::new(vec![])), Err(TargetError::BasicUser)));
    }

    #[test]
    fn debug_of_a_message_leaves_the_payload_out() {
        let message = DataMessage {
            node_id: "n".into(),
            session_id: "s".into(),
            operation_id: "o".into(),
            payload: serde_json::json!({"secret": "do-not-log"}),
        };
        assert!(!format!("{message:?}").contains("do-not-log"));
    }
}
