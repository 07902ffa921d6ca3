//! `hookgate test DIR`: runs the `tests/*.json` cases of a policy tree or of one tenant.
//!
//! A case file holds one case or an array of cases:
//!
//! ```json
//! {"name": "forbidden stream", "method": "publishStream",
//!  "payload": {...} | "payload_file": "../../payloads/publishStream.json" | "payload_raw": "{...",
//!  "authorization": "WCS 1f…", "received_ms": 1700000000000,
//!  "expect": {"status": 403, "body": {"policy": "stream-guard"}, "echo": false, "absent": ["restClientConfig"]}}
//! ```
//!
//! `expect.body` matches when every field it gives equals the answer's (recursively for
//! objects); `echo: true` asks for the received bytes exactly; `absent` lists top-level fields
//! the answer must not have.

use anyhow::{Context as _, Result, bail};
use hookgate_config::MANIFEST_FILE;
use hookgate_engine::{Body, HookRequest, TenantSet};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `test`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// A policy tree, or one tenant folder.
    dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CaseFile {
    Many(Vec<Case>),
    One(Box<Case>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    method: String,
    payload: Option<Value>,
    payload_file: Option<PathBuf>,
    payload_raw: Option<String>,
    authorization: Option<String>,
    received_ms: Option<u64>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: u16,
    body: Option<Value>,
    #[serde(default)]
    echo: bool,
    #[serde(default)]
    absent: Vec<String>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    super::init_logging("error", false);
    let runtime = super::wasm_runtime()?;
    let tokio = super::tokio_runtime()?;
    let single = args.dir.join(MANIFEST_FILE).is_file();
    let (tenants, folders) = tokio.block_on(async {
        if single {
            let name = tenant_name(&args.dir);
            let (tenant, problems) = hookgate_engine::load_tenant(&runtime, &name, &args.dir).await?;
            report_problems(problems.iter().map(String::as_str));
            anyhow::Ok((TenantSet::only(tenant), vec![(name, args.dir.clone())]))
        } else {
            let (set, issues) = hookgate_engine::load_tree(&runtime, &args.dir).await;
            report_problems(issues.iter().map(|issue| issue.message.as_str()));
            let folders = hookgate_config::tenant_dirs(&args.dir)
                .with_context(|| format!("cannot list {}", args.dir.display()))?;
            anyhow::Ok((set, folders))
        }
    })?;

    let (mut passed, mut failed) = (0usize, 0usize);
    for (tenant, folder) in folders {
        for file in case_files(&folder.join("tests"))? {
            let cases = read_cases(&file)?;
            for case in cases {
                let label = format!("{}: {}", file.strip_prefix(&args.dir).unwrap_or(&file).display(), case.name);
                let expected_tenant = if single { None } else { Some(tenant.as_str()) };
                match tokio.block_on(run_case(&tenants, &case, &file, expected_tenant)) {
                    Ok(()) => {
                        passed += 1;
                        println!("ok    {label}");
                    }
                    Err(err) => {
                        failed += 1;
                        println!("FAIL  {label}\n      {err:#}");
                    }
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if passed + failed == 0 {
        eprintln!("no test cases found under {}/*/tests/*.json", args.dir.display());
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn tenant_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|dir| dir.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn report_problems<'a>(problems: impl Iterator<Item = &'a str>) {
    for problem in problems {
        eprintln!("warning: {problem}");
    }
}

fn case_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn read_cases(file: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let cases: CaseFile =
        serde_json::from_str(&text).with_context(|| format!("{}: not a test case file", file.display()))?;
    Ok(match cases {
        CaseFile::Many(cases) => cases,
        CaseFile::One(case) => vec![*case],
    })
}

async fn run_case(tenants: &TenantSet, case: &Case, file: &Path, expected_tenant: Option<&str>) -> Result<()> {
    let body = match (&case.payload, &case.payload_file, &case.payload_raw) {
        (Some(payload), None, None) => serde_json::to_vec(payload)?,
        (None, Some(path), None) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(path);
            std::fs::read(&path).with_context(|| format!("cannot read payload {}", path.display()))?
        }
        (None, None, Some(raw)) => raw.clone().into_bytes(),
        _ => bail!("give exactly one of payload, payload_file, payload_raw"),
    };
    let request = HookRequest {
        method: &case.method,
        body: &body,
        authorization: case.authorization.as_deref().map(str::as_bytes),
        received_ms: case.received_ms.unwrap_or_else(super::eval::now_ms),
    };
    let (status, answer, tenant) = match tenants.decide(request).await {
        Ok(decision) => {
            let answer = match decision.body {
                Body::Echo => body.clone(),
                Body::Json(bytes) => bytes,
            };
            (decision.status, answer, Some(decision.tenant))
        }
        Err(bad) => (400, serde_json::json!({ "error": bad.to_string() }).to_string().into_bytes(), None),
    };
    let shown = String::from_utf8_lossy(&answer);
    if let (Some(expected), Some(actual)) = (expected_tenant, tenant.as_deref()) {
        if actual != expected {
            bail!("the payload's appKey routed it to tenant '{actual}', not '{expected}'");
        }
    }
    if status != case.expect.status {
        bail!("status {status}, expected {}; body {shown}", case.expect.status);
    }
    if case.expect.echo && answer != body {
        bail!("expected the received body echoed byte for byte; got {shown}");
    }
    if case.expect.body.is_some() || !case.expect.absent.is_empty() {
        let actual: Value = serde_json::from_slice(&answer).with_context(|| format!("answer is not JSON: {shown}"))?;
        if let Some(expected) = &case.expect.body {
            if let Some(path) = mismatch(expected, &actual, String::new()) {
                bail!("body differs at '{path}': expected {expected}, got {shown}");
            }
        }
        for field in &case.expect.absent {
            if actual.get(field).is_some() {
                bail!("field '{field}' must be absent; got {shown}");
            }
        }
    }
    Ok(())
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
