//! Test cases of a tenant (`<tenant>/tests/*.json`): run by `hookgate test`, and by the
//! reloader before a new generation goes live.
//!
//! A case file holds one case or an array of cases:
//!
//! ```json
//! {"name": "forbidden stream", "method": "publishStream",
//!  "payload": {...} | "payload_file": "payloads/publishStream.json" | "payload_raw": "{...",
//!  "authorization": "WCS 1f…", "received_ms": 1700000000000,
//!  "expect": {"status": 403, "body": {"policy": "stream-guard"}, "echo": false, "absent": ["restClientConfig"]}}
//! ```
//!
//! `expect.body` matches when every field it gives equals the answer's (recursively for
//! objects); `echo: true` asks for the received bytes exactly; `absent` lists top-level fields
//! the answer must not have.
//!
//! Case files and payload files are tenant files: read inside the tenant folder and bounded
//! (`hookgate_config::TenantFiles`); `payload_file` is relative to `tests/`.

use crate::{Body, HookRequest, TenantSet};
use hookgate_config::{FileKind, TenantBounds, TenantFiles};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One test case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case checks.
    pub name: String,
    /// The hook method.
    pub method: String,
    payload: Option<Value>,
    payload_file: Option<PathBuf>,
    payload_raw: Option<String>,
    authorization: Option<String>,
    received_ms: Option<u64>,
    expect: Expect,
    /// The hook body, resolved when the case file is loaded.
    #[serde(skip)]
    body: Vec<u8>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: u16,
    body: Option<Value>,
    #[serde(default)]
    echo: bool,
    #[serde(default)]
    absent: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CaseFile {
    Many(Vec<Case>),
    One(Box<Case>),
}

/// The folder of the case files, inside the tenant folder.
const TESTS: &str = "tests";

/// The case files of a tenant folder (`tests/*.json`), sorted, each with its cases and their
/// bodies. Every file is read within `bounds` (blocking: call it off the async workers); an
/// error names the case file, the case and the rule, never a file's content.
pub fn load_cases(tenant_dir: &Path, bounds: &TenantBounds) -> Result<Vec<(PathBuf, Vec<Case>)>, String> {
    let dir = tenant_dir.join(TESTS);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|err| format!("cannot list {}: {err}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| PathBuf::from(entry.file_name())))
        .filter(|name| name.extension().is_some_and(|ext| ext == "json"))
        .collect();
    names.sort();
    let files = TenantFiles::new(tenant_dir, bounds);
    names
        .into_iter()
        .map(|name| {
            let file = dir.join(&name);
            let bytes = files
                .read(&Path::new(TESTS).join(&name), FileKind::Cases)
                .map_err(|err| format!("{}: {err}", file.display()))?;
            let mut cases = match serde_json::from_slice(&bytes) {
                Ok(CaseFile::Many(cases)) => cases,
                Ok(CaseFile::One(case)) => vec![*case],
                Err(err) => return Err(format!("{}: not a test case file: {err}", file.display())),
            };
            for case in &mut cases {
                case.body =
                    case.read_body(files).map_err(|err| format!("{}: case '{}': {err}", file.display(), case.name))?;
            }
            Ok((file, cases))
        })
        .collect()
}

impl Case {
    /// The hook body of the case, from `payload`, `payload_file` (read within the tenant's
    /// bounds, relative to `tests/`) or `payload_raw`.
    fn read_body(&self, files: TenantFiles<'_>) -> Result<Vec<u8>, String> {
        match (&self.payload, &self.payload_file, &self.payload_raw) {
            (Some(payload), None, None) => Ok(payload.to_string().into_bytes()),
            (None, Some(path), None) => {
                files.read_in(Path::new(TESTS), path, FileKind::Payload).map_err(|err| format!("payload_file: {err}"))
            }
            (None, None, Some(raw)) => Ok(raw.clone().into_bytes()),
            _ => Err("give exactly one of payload, payload_file, payload_raw".into()),
        }
    }

    /// The hook body the case sends.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The `Authorization` header value the case sends, if any.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// The reception time the case fixes, if any (a server uses its own clock).
    pub fn received_ms(&self) -> Option<u64> {
        self.received_ms
    }

    /// Runs the case through `tenants`. When `tenant` is given, the payload must route to that
    /// tenant. `now_ms` is used when the case gives no time.
    pub async fn run(&self, tenants: &TenantSet, tenant: Option<&str>, now_ms: u64) -> Result<(), String> {
        let body = &self.body;
        let request = HookRequest {
            method: &self.method,
            body,
            authorization: self.authorization.as_deref().map(str::as_bytes),
            received_ms: self.received_ms.unwrap_or(now_ms),
        };
        let (status, answer, routed) = match tenants.decide(request, &crate::Services::in_process()).await {
            Ok(decision) => {
                let answer = match decision.body {
                    Body::Echo => body.clone(),
                    Body::Json(bytes) => bytes,
                };
                (decision.status, answer, Some(decision.tenant))
            }
            Err(bad) => (400, serde_json::json!({ "error": bad.to_string() }).to_string().into_bytes(), None),
        };
        if let (Some(expected), Some(actual)) = (tenant, routed.as_deref())
            && actual != expected
        {
            return Err(format!("the payload's appKey routed it to tenant '{actual}', not '{expected}'"));
        }
        self.check(status, &answer, body)
    }

    /// Checks an answer (`status`, `answer` bytes) to the case's `body` against its `expect`,
    /// however the answer was obtained (in process, or from a running server over HTTP).
    pub fn check(&self, status: u16, answer: &[u8], body: &[u8]) -> Result<(), String> {
        let shown = String::from_utf8_lossy(answer);
        let expect = &self.expect;
        if status != expect.status {
            return Err(format!("status {status}, expected {}; body {shown}", expect.status));
        }
        if expect.echo && answer != body {
            return Err(format!("expected the received body echoed byte for byte; got {shown}"));
        }
        if expect.body.is_some() || !expect.absent.is_empty() {
            let actual: Value = serde_json::from_slice(answer).map_err(|_| format!("answer is not JSON: {shown}"))?;
            if let Some(expected) = &expect.body
                && let Some(path) = mismatch(expected, &actual, String::new())
            {
                return Err(format!("body differs at '{path}': expected {expected}, got {shown}"));
            }
            if let Some(field) = expect.absent.iter().find(|field| actual.get(field.as_str()).is_some()) {
                return Err(format!("field '{field}' must be absent; got {shown}"));
            }
        }
        Ok(())
    }
}

/// The path of the first field of `expected` that `actual` lacks or has with another value.
fn mismatch(expected: &Value, actual: &Value, path: String) -> Option<String> {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => expected.iter().find_map(|(key, value)| {
            let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            match actual.get(key) {
                Some(actual) => mismatch(value, actual, at),
                None => Some(at),
            }
        }),
        _ if expected == actual => None,
        _ => Some(if path.is_empty() { "(root)".into() } else { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::mismatch;
    use serde_json::json;

    #[test]
    fn subset_matching() {
        let actual = json!({"a": 1, "b": {"c": 2, "d": 3}});
        assert_eq!(mismatch(&json!({"b": {"c": 2}}), &actual, String::new()), None);
        assert_eq!(mismatch(&json!({"b": {"c": 3}}), &actual, String::new()), Some("b.c".into()));
        assert_eq!(mismatch(&json!({"x": 1}), &actual, String::new()), Some("x".into()));
        assert_eq!(mismatch(&json!(1), &json!(2), String::new()), Some("(root)".into()));
    }
}
