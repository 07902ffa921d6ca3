//! Builds every policy of `plugins/` through `build_rust_policy` and checks the components.
//!
//! A release wasm build per plugin (seconds once the guest dependencies are built). Set
//! `HOOKGATE_POLICY_OUT` to keep the components (default: a temporary directory); the wasm
//! target dir is
//! `HOOKGATE_WASM_TARGET_DIR` or `<workspace>/target/wasm`.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn all_plugins_build_into_policy_components() {
    let root = repo_root();
    let out_dir = std::env::var_os("HOOKGATE_POLICY_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hookgate-policies-{}", std::process::id())));
    let target_dir =
        std::env::var_os("HOOKGATE_WASM_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target/wasm"));
    let plugins =
        [("rust/token-auth", false), ("rust/stream-guard", false), ("rust/audit", true), ("fixtures/faulty", true)];
    for (dir, logs) in plugins {
        let name = Path::new(dir).file_name().unwrap().to_str().unwrap();
        let out = out_dir.join(format!("{name}.wasm"));
        hookgate_build::build_rust_policy(&root.join("plugins").join(dir), &out, &target_dir)
            .unwrap_or_else(|e| panic!("{dir}: {e:#}"));
        let bytes = std::fs::read(&out).unwrap();
        let info = hookgate_build::check_policy_contract(&bytes).unwrap();
        eprintln!("{name}: {} bytes, imports {:?}, exports {:?}", bytes.len(), info.imports, info.exports);
        let mut exports = info.exports.clone();
        exports.sort();
        assert_eq!(exports, ["evaluate", "validate-settings"], "{dir}");
        let host_imported = info.imports.iter().any(|i| i == "hookgate:policy/host@0.1.0");
        // Only policies that log (or enable the SDK's `panic-log`) import `host`: the import
        // costs two shim core instances per evaluation.
        assert_eq!(host_imported, logs, "{dir}: {:?}", info.imports);
        // The parser/validator generation wasmtime 48 embeds must accept the component.
        wasmparser_wasmtime48::Validator::new_with_features(wasmparser_wasmtime48::WasmFeatures::all())
            .validate_all(&bytes)
            .unwrap_or_else(|e| panic!("{dir}: wasmparser 0.254 rejects the component: {e}"));
        // No memory.grow-happy allocator: the core module must not import anything but the host.
        assert!(!info.imports.iter().any(|i| i.starts_with("wasi:")), "{dir}");
    }
}
