//! Building fixtures and evaluating one hook.

use hookgate_runtime::{Effect, EvalLimits, Failure, Grants, HookInput, MethodKind, Policy, Verdict};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The component of a Rust policy under `plugins/` (e.g. `fixtures/faulty`), built once per
/// test process.
pub(crate) fn policy(plugin: &str) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let out = repo().join("target/test-policies").join(format!("{}.wasm", plugin.replace('/', "-")));
    let mut built = BUILT.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|p| p == plugin) {
        hookgate_build::build_rust_policy(&repo().join("plugins").join(plugin), &out, &repo().join("target/wasm"))
            .unwrap_or_else(|err| panic!("building {plugin}: {err:#}"));
        built.push(plugin.to_owned());
    }
    std::fs::read(&out).expect("built component")
}

/// Evaluates `payload` for `publishStream` with `settings`.
pub(crate) async fn eval(
    policy: &Policy,
    settings: &str,
    limits: EvalLimits,
    grants: Grants,
) -> Result<(Verdict, Vec<Effect>), Failure> {
    let hook = HookInput {
        method: "publishStream",
        kind: MethodKind::Direct,
        app_key: "defaultApp",
        session_id: "s1",
        payload: r#"{"appKey":"defaultApp","name":"Cam1"}"#,
        settings,
        received_ms: 0,
    };
    policy.evaluate(&hook, limits, grants).await
}
