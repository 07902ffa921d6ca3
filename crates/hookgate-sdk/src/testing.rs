//! A native test harness: runs JSON case files against a policy function (not on wasm32).
//!
//! Case files live in a directory (conventionally the policy crate's `tests/`); each `*.json`
//! file holds one case object or an array of cases:
//!
//! ```json
//! {
//!   "name": "uppercase name is lowercased",
//!   "method": "publishStream",
//!   "kind": "direct",
//!   "settings": {"deny": ["forbidden_*"]},
//!   "payload": {"name": "Cam1", "appKey": "defaultApp"},
//!   "expect": {"verdict": "override", "patch": {"name": "cam1"}}
//! }
//! ```
//!
//! Fields: `name`, `method` (required); `kind` (default: the host's, [`MethodKind::of`]);
//! `settings` (JSON, default `{}`); `payload` (JSON, default `{}`) or `payload_raw`
//! (a string used verbatim, e.g. to test malformed bodies); `app_key` / `session_id`
//! (default: the payload's `appKey` / `sessionId`); `received_ms` (default
//! [`DEFAULT_RECEIVED_MS`]). `expect`: `verdict` is `allow`, `deny`, `override`, `error`
//! (the policy returned `Err`) or `invalid-settings` (validate-settings refused the
//! settings); optional `status` (deny), `reason_contains` (deny / error / invalid-settings),
//! `patch` (override: compared as JSON), `patch_raw` (override: compared as text) and
//! `logs_contain` (substrings that must each appear in some logged line).
//!
//! When a validator is given, the case's settings go through it first, as the host does at
//! load time. Every override must be a JSON object unless `patch_raw` is given.
//!
//! ```no_run
//! # fn evaluate(_: &hookgate_sdk::Hook) -> Result<hookgate_sdk::Verdict, String> { Ok(hookgate_sdk::Verdict::Allow) }
//! # fn check(_: &str) -> Result<(), String> { Ok(()) }
//! #[test]
//! fn cases() {
//!     hookgate_sdk::testing::run_dir(
//!         concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
//!         evaluate,
//!         Some(check),
//!     );
//! }
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::log::{self, Level};
use crate::{Hook, MethodKind, Verdict};

/// `received_ms` of a case that sets none: 2026-01-01T00:00:00Z.
pub const DEFAULT_RECEIVED_MS: u64 = 1_767_225_600_000;

/// A policy's `evaluate` function.
pub type EvaluateFn = fn(&Hook) -> Result<Verdict, String>;
/// A policy's `validate-settings` function.
pub type ValidateFn = fn(&str) -> Result<(), String>;

/// One test case (see the [module docs](self) for the format).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in failure messages.
    pub name: String,
    /// The WCS method, e.g. `publishStream`.
    pub method: String,
    /// The method kind; the host's kind of the method ([`MethodKind::of`]) when absent.
    #[serde(default)]
    pub kind: Option<MethodKind>,
    /// The policy settings (JSON); `{}` when absent.
    #[serde(default)]
    pub settings: Option<Value>,
    /// The payload as JSON; `{}` when absent.
    #[serde(default)]
    pub payload: Option<Value>,
    /// The payload as verbatim text (instead of `payload`).
    #[serde(default)]
    pub payload_raw: Option<String>,
    /// Overrides the `appKey` taken from the payload.
    #[serde(default)]
    pub app_key: Option<String>,
    /// Overrides the `sessionId` taken from the payload.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Reception time in ms since the epoch; [`DEFAULT_RECEIVED_MS`] when absent.
    #[serde(default)]
    pub received_ms: Option<u64>,
    /// What must come out.
    pub expect: Expect,
    /// Where the case came from (`file.json` or `file.json#2`); filled in by [`load_dir`].
    #[serde(skip)]
    pub origin: String,
}

/// The expected outcome of a [`Case`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Which outcome.
    pub verdict: Expected,
    /// For `deny`: the exact status.
    #[serde(default)]
    pub status: Option<u16>,
    /// For `deny`, `error`, `invalid-settings`: a substring of the reason / error.
    #[serde(default)]
    pub reason_contains: Option<String>,
    /// For `override`: the patch, compared as JSON.
    #[serde(default)]
    pub patch: Option<Value>,
    /// For `override`: the patch text, compared exactly.
    #[serde(default)]
    pub patch_raw: Option<String>,
    /// Substrings that must each appear in some logged line.
    #[serde(default)]
    pub logs_contain: Vec<String>,
}

/// The kinds of outcome a case can expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expected {
    /// `Ok(Verdict::Allow)`.
    Allow,
    /// `Ok(Verdict::Deny { .. })`.
    Deny,
    /// `Ok(Verdict::Override(..))`.
    Override,
    /// `Err(..)` from evaluate.
    Error,
    /// `Err(..)` from validate-settings.
    InvalidSettings,
}

impl Case {
    /// The hook this case feeds to the policy.
    pub fn hook(&self) -> Hook {
        let payload = match (&self.payload_raw, &self.payload) {
            (Some(raw), _) => raw.clone(),
            (None, Some(v)) => v.to_string(),
            (None, None) => "{}".to_owned(),
        };
        let mut hook = Hook::new(self.method.clone(), payload);
        if let Some(kind) = self.kind {
            hook.kind = kind;
        }
        if let Some(k) = &self.app_key {
            hook.app_key = k.clone();
        }
        if let Some(s) = &self.session_id {
            hook.session_id = s.clone();
        }
        hook.settings = self.settings_json();
        hook.received_ms = self.received_ms.unwrap_or(DEFAULT_RECEIVED_MS);
        hook
    }

    fn settings_json(&self) -> String {
        self.settings.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string)
    }
}

/// Loads every `*.json` case file of `dir` (sorted by file name).
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Vec<Case>, String> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read case directory {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let short = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let mut case: Case =
                        serde_json::from_value(item).map_err(|e| format!("{}, case #{i}: {e}", file.display()))?;
                    case.origin = format!("{short}#{i}");
                    cases.push(case);
                }
            }
            item => {
                let mut case: Case = serde_json::from_value(item).map_err(|e| format!("{}: {e}", file.display()))?;
                case.origin = short;
                cases.push(case);
            }
        }
    }
    Ok(cases)
}

/// Runs one case; `Err` describes the mismatch.
pub fn check_case(case: &Case, evaluate: EvaluateFn, validate: Option<ValidateFn>) -> Result<(), String> {
    let _ = log::take_captured();
    let e = &case.expect;
    if let Some(validate) = validate {
        match (validate(&case.settings_json()), e.verdict) {
            (Err(err), Expected::InvalidSettings) => {
                return contains("settings error", &err, e.reason_contains.as_deref());
            }
            (Ok(()), Expected::InvalidSettings) => {
                return Err("expected validate-settings to refuse the settings, but it accepted them".into());
            }
            (Err(err), _) => return Err(format!("validate-settings refused the settings: {err}")),
            (Ok(()), _) => {}
        }
    } else if e.verdict == Expected::InvalidSettings {
        return Err("expects invalid-settings, but no validator was given to the harness".into());
    }

    let got = evaluate(&case.hook());
    let logs = log::take_captured();
    let outcome = match (&got, e.verdict) {
        (Ok(Verdict::Allow), Expected::Allow) => Ok(()),
        (Ok(Verdict::Deny { status, reason }), Expected::Deny) => {
            if let Some(want) = e.status.filter(|w| w != status) {
                Err(format!("expected deny {want}, got deny {status} ({reason:?})"))
            } else {
                contains("reason", reason, e.reason_contains.as_deref())
            }
        }
        (Ok(Verdict::Override(patch)), Expected::Override) => check_patch(patch, e),
        (Err(err), Expected::Error) => contains("error", err, e.reason_contains.as_deref()),
        (got, want) => Err(format!("expected {}, got {}", want_str(want, e), got_str(got))),
    };
    outcome?;
    for want in &e.logs_contain {
        if !logs.iter().any(|(_, line)| line.contains(want.as_str())) {
            return Err(format!("no log line contains {want:?}; logged: {}", logs_str(&logs)));
        }
    }
    Ok(())
}

/// Runs all cases of `dir` and panics with a report of every failing case.
/// Also panics when the directory holds no case.
pub fn run_dir(dir: impl AsRef<Path>, evaluate: EvaluateFn, validate: Option<ValidateFn>) {
    let dir = dir.as_ref();
    let cases = load_dir(dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(!cases.is_empty(), "no *.json case file in {}", dir.display());
    let mut failures = String::new();
    let mut failed = 0;
    for case in &cases {
        if let Err(msg) = check_case(case, evaluate, validate) {
            failed += 1;
            let _ = writeln!(failures, "  ✗ {} [{}]: {msg}", case.name, case.origin);
        }
    }
    if failed > 0 {
        panic!("{failed} of {} policy cases failed in {}:\n{failures}", cases.len(), dir.display());
    }
    eprintln!("{} policy cases passed in {}", cases.len(), dir.display());
}

fn contains(what: &str, text: &str, want: Option<&str>) -> Result<(), String> {
    match want {
        Some(w) if !text.contains(w) => Err(format!("{what} {text:?} does not contain {w:?}")),
        _ => Ok(()),
    }
}

fn check_patch(patch: &str, e: &Expect) -> Result<(), String> {
    if let Some(raw) = &e.patch_raw {
        return if patch == raw { Ok(()) } else { Err(format!("expected patch text {raw:?}, got {patch:?}")) };
    }
    let got: Value =
        serde_json::from_str(patch).map_err(|err| format!("override patch is not JSON ({err}): {patch:?}"))?;
    if !got.is_object() {
        return Err(format!("override patch is not a JSON object: {patch}"));
    }
    match &e.patch {
        Some(want) if *want != got => Err(format!("expected patch {want}, got {got}")),
        _ => Ok(()),
    }
}

fn want_str(want: Expected, e: &Expect) -> String {
    match (want, e.status) {
        (Expected::Deny, Some(s)) => format!("deny {s}"),
        (Expected::Allow, _) => "allow".into(),
        (Expected::Deny, None) => "deny".into(),
        (Expected::Override, _) => "override".into(),
        (Expected::Error, _) => "error".into(),
        (Expected::InvalidSettings, _) => "invalid-settings".into(),
    }
}

fn got_str(got: &Result<Verdict, String>) -> String {
    match got {
        Ok(Verdict::Allow) => "allow".into(),
        Ok(Verdict::Deny { status, reason }) => format!("deny {status} ({reason:?})"),
        Ok(Verdict::Override(p)) => format!("override {p}"),
        Err(e) => format!("error {e:?}"),
    }
}

fn logs_str(logs: &[(Level, String)]) -> String {
    if logs.is_empty() {
        return "(nothing)".into();
    }
    logs.iter().map(|(l, m)| format!("[{l}] {m}")).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hook: &Hook) -> Result<Verdict, String> {
        crate::log::info(&format!("saw {}", hook.method));
        match hook.str_field("name").as_deref() {
            None => Ok(Verdict::Allow),
            Some("boom") => Err("boom requested".into()),
            Some(n) if n.starts_with("bad") => Ok(Verdict::forbid(format!("'{n}' is bad"))),
            Some(n) => Ok(Verdict::set_field("name", n.to_lowercase())),
        }
    }

    fn validate(s: &str) -> Result<(), String> {
        if s.contains("reject") { Err("settings rejected".into()) } else { Ok(()) }
    }

    fn case(json: &str) -> Case {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn passing_cases() {
        for c in [
            r#"{"name":"a","method":"publishStream","payload":{},"expect":{"verdict":"allow","logs_contain":["saw publishStream"]}}"#,
            r#"{"name":"b","method":"publishStream","payload":{"name":"badX"},"expect":{"verdict":"deny","status":403,"reason_contains":"badX"}}"#,
            r#"{"name":"c","method":"publishStream","payload":{"name":"Cam"},"expect":{"verdict":"override","patch":{"name":"cam"}}}"#,
            r#"{"name":"d","method":"publishStream","payload":{"name":"Cam"},"expect":{"verdict":"override","patch_raw":"{\"name\":\"cam\"}"}}"#,
            r#"{"name":"e","method":"publishStream","payload":{"name":"boom"},"expect":{"verdict":"error","reason_contains":"boom"}}"#,
            r#"{"name":"f","method":"publishStream","settings":{"reject":1},"expect":{"verdict":"invalid-settings","reason_contains":"rejected"}}"#,
            r#"{"name":"g","method":"publishStream","payload_raw":"{\"name\":\"Cam\"","expect":{"verdict":"allow"}}"#,
        ] {
            check_case(&case(c), policy, Some(validate)).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
    }

    #[test]
    fn failing_cases_explain_themselves() {
        let fail = |c: &str| check_case(&case(c), policy, Some(validate)).unwrap_err();
        let m = fail(r#"{"name":"a","method":"m","payload":{"name":"x"},"expect":{"verdict":"allow"}}"#);
        assert_eq!(m, r#"expected allow, got override {"name":"x"}"#);
        let m = fail(r#"{"name":"a","method":"m","payload":{"name":"bad"},"expect":{"verdict":"deny","status":401}}"#);
        assert_eq!(m, r#"expected deny 401, got deny 403 ("'bad' is bad")"#);
        let m = fail(
            r#"{"name":"a","method":"m","payload":{"name":"bad"},"expect":{"verdict":"deny","reason_contains":"zzz"}}"#,
        );
        assert!(m.contains("does not contain \"zzz\""), "{m}");
        let m = fail(
            r#"{"name":"a","method":"m","payload":{"name":"X"},"expect":{"verdict":"override","patch":{"name":"y"}}}"#,
        );
        assert_eq!(m, r#"expected patch {"name":"y"}, got {"name":"x"}"#);
        let m = fail(r#"{"name":"a","method":"m","settings":{"reject":1},"expect":{"verdict":"allow"}}"#);
        assert!(m.starts_with("validate-settings refused"), "{m}");
        let m = fail(r#"{"name":"a","method":"m","expect":{"verdict":"invalid-settings"}}"#);
        assert!(m.contains("accepted"), "{m}");
        let m = fail(r#"{"name":"a","method":"m","expect":{"verdict":"allow","logs_contain":["nope"]}}"#);
        assert!(m.contains("[info] saw m"), "{m}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<Case>(r#"{"name":"a","method":"m","expect":{"verdict":"allow","stauts":1}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Case>(r#"{"name":"a","method":"m","expect":{"verdict":"maybe"}}"#).is_err());
    }

    #[test]
    fn hook_from_case() {
        let c = case(
            r#"{"name":"a","method":"connect","payload":{"appKey":"k","sessionId":"s"},"settings":{"x":1},"expect":{"verdict":"allow"}}"#,
        );
        let h = c.hook();
        assert_eq!(h.kind, MethodKind::Connect);
        assert_eq!((h.app_key.as_str(), h.session_id.as_str()), ("k", "s"));
        assert_eq!(h.settings, r#"{"x":1}"#);
        assert_eq!(h.received_ms, DEFAULT_RECEIVED_MS);
        let c = case(
            r#"{"name":"a","method":"StreamStatusEvent","kind":"incoming","app_key":"o","received_ms":5,"expect":{"verdict":"allow"}}"#,
        );
        let h = c.hook();
        assert_eq!((h.kind, h.app_key.as_str(), h.received_ms), (MethodKind::Incoming, "o", 5));
        assert_eq!(h.payload, "{}");
    }

    /// A case without a `kind` gets the kind the host gives its method, for every catalogued
    /// name and alias, and for names the host does not know.
    #[test]
    fn kinds_agree_with_the_host_for_every_method() {
        let catalogued = hookgate_protocol::method::CATALOGUE
            .iter()
            .flat_map(|method| std::iter::once(&method.name).chain(method.aliases))
            .copied();
        let unknown = ["SomeFutureEvent", "somethingNew", "publishstream", ""];
        for name in catalogued.chain(unknown) {
            let c = case(&format!(r#"{{"name":"a","method":{name:?},"expect":{{"verdict":"allow"}}}}"#));
            let host = hookgate_protocol::Method::classify(name).kind;
            assert_eq!(c.hook().kind, host, "{name}");
            assert_eq!(Hook::new(name, "{}").kind, host, "{name}");
        }
    }

    #[test]
    fn loads_a_directory() {
        let dir = std::env::temp_dir().join(format!("hookgate-sdk-cases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"[{"name":"one","method":"m","expect":{"verdict":"allow"}},{"name":"two","method":"m","payload":{"name":"Q"},"expect":{"verdict":"override","patch":{"name":"q"}}}]"#,
        )
        .unwrap();
        std::fs::write(dir.join("b.json"), r#"{"name":"three","method":"m","expect":{"verdict":"allow"}}"#).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let cases = load_dir(&dir).unwrap();
        let origins: Vec<_> = cases.iter().map(|c| c.origin.as_str()).collect();
        assert_eq!(origins, ["a.json#0", "a.json#1", "b.json"]);
        run_dir(&dir, policy, Some(validate));
        std::fs::write(
            dir.join("c.json"),
            r#"{"name":"four","method":"m","payload":{"name":"bad"},"expect":{"verdict":"allow"}}"#,
        )
        .unwrap();
        let err = std::panic::catch_unwind(|| run_dir(&dir, policy, Some(validate))).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("1 of 4 policy cases failed"), "{msg}");
        assert!(msg.contains("four [c.json]: expected allow, got deny 403"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
