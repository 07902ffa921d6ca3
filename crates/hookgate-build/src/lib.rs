//! Builds hookgate Rust policies into WebAssembly components.
//!
//! * [`componentize`] turns a `wasm32-unknown-unknown` core module produced with
//!   wit-bindgen (through `hookgate-sdk`) into a component (input that already is a
//!   component passes through unchanged);
//! * [`build_rust_policy`] runs `cargo build` for a policy crate, componentizes the result
//!   and writes it atomically;
//! * [`inspect`] lists a component's top-level imports and exports, and
//!   [`check_policy_contract`] checks them against the `hookgate:policy@0.1.0` world.
//!
//! This crate never runs wasm: it depends on `wit-component`/`wasmparser` only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};

/// The Rust target policies are compiled for: no WASI imports, no capabilities.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Instance names a policy component may import (the host links them all). wit-bindgen
/// guests import `types` as a types-only instance because the world `use`s its types; the
/// capabilities (`state`, `notify`, `send-data`) load only where the manifest grants them.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "hookgate:policy/host@0.1.0",
    "hookgate:policy/types@0.1.0",
    "hookgate:policy/state@0.1.0",
    "hookgate:policy/notify@0.1.0",
    "hookgate:policy/send-data@0.1.0",
];

/// Functions a policy component must export.
pub const REQUIRED_EXPORTS: &[&str] = &["evaluate", "validate-settings"];

/// The release profile hookgate enforces for guests (passed as `--config`, which takes
/// precedence over the profile in the policy's workspace): fast code, no unwinding, no symbols.
const GUEST_PROFILE: &[&str] = &[
    "profile.release.opt-level=3",
    "profile.release.lto=true",
    "profile.release.codegen-units=1",
    "profile.release.panic=\"abort\"",
    "profile.release.strip=true",
    "profile.release.debug=false",
];

/// How many trailing lines of cargo's stderr an error carries.
const STDERR_TAIL_LINES: usize = 40;

/// What kind of WebAssembly binary some bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module (`\0asm` version 1).
    CoreModule,
    /// A component (`\0asm` component layer).
    Component,
}

/// Tells a core module from a component by the 8-byte header.
pub fn wasm_kind(bytes: &[u8]) -> Result<WasmKind> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        bail!(
            "not a WebAssembly binary (no \\0asm header; {} bytes{})",
            bytes.len(),
            if bytes.starts_with(b"(") { ", looks like WAT text" } else { "" }
        );
    }
    let [a, b, c, d] = [bytes[4], bytes[5], bytes[6], bytes[7]];
    match [a, b, c, d] {
        [1, 0, 0, 0] => Ok(WasmKind::CoreModule),
        [_, _, 1, 0] => Ok(WasmKind::Component),
        _ => bail!("unknown WebAssembly version/layer {a:#04x} {b:#04x} {c:#04x} {d:#04x}"),
    }
}

/// Turns a core module built with wit-bindgen into a component; passes components through.
///
/// The module must carry wit-bindgen's `component-type` custom section (it does when built
/// with `hookgate-sdk`). The output is validated.
pub fn componentize(core_module: &[u8]) -> Result<Vec<u8>> {
    match wasm_kind(core_module)? {
        WasmKind::Component => Ok(core_module.to_vec()),
        WasmKind::CoreModule => wit_component::ComponentEncoder::default()
            .validate(true)
            .module(core_module)
            .context("reading the core module and its component-type metadata (was it built with hookgate-sdk / wit-bindgen?)")?
            .encode()
            .context("encoding the component"),
    }
}

/// The top-level imports and exports of a component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Names of imported instances and functions, e.g. `hookgate:policy/host@0.1.0`.
    pub imports: Vec<String>,
    /// Names of imported types (`hook`, `verdict`: the world's `use types.{…}`); they need
    /// nothing from the host's linker.
    pub type_imports: Vec<String>,
    /// Export names, e.g. `evaluate`.
    pub exports: Vec<String>,
}

/// Lists a component's top-level import and export names (nested modules and components
/// are skipped).
pub fn inspect(component: &[u8]) -> Result<ComponentInfo> {
    if wasm_kind(component)? != WasmKind::Component {
        bail!("expected a component, found a core module");
    }
    let mut info = ComponentInfo::default();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        use wasmparser::Payload;
        match payload.context("parsing the component")? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import?;
                    let name = import.name.name.to_owned();
                    match import.ty {
                        wasmparser::ComponentTypeRef::Type(_) => info.type_imports.push(name),
                        _ => info.imports.push(name),
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    info.exports.push(export?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Checks that a component fits the `capable-policy` world: exports `evaluate` and
/// `validate-settings`, and imports nothing but [`ALLOWED_IMPORTS`].
pub fn check_policy_contract(component: &[u8]) -> Result<ComponentInfo> {
    let info = inspect(component)?;
    let extra: Vec<&str> = info.imports.iter().map(String::as_str).filter(|i| !ALLOWED_IMPORTS.contains(i)).collect();
    if !extra.is_empty() {
        bail!(
            "the component imports {} (a policy may only import {}); WASI imports usually mean it was built for wasm32-wasip* instead of {TARGET}",
            extra.join(", "),
            ALLOWED_IMPORTS.join(", ")
        );
    }
    for want in REQUIRED_EXPORTS {
        if !info.exports.iter().any(|e| e == want) {
            bail!("the component does not export `{want}` (exports: {})", info.exports.join(", "));
        }
    }
    Ok(info)
}

/// Builds the Rust policy crate in `plugin_dir` and writes its component to `out`.
///
/// Runs `cargo build --release --target wasm32-unknown-unknown` for that crate (from the
/// root of its workspace, so the workspace's `.cargo/config.toml` applies) with
/// `--target-dir target_dir` and hookgate's guest profile, componentizes the `.wasm`
/// (checking it against the policy contract) and writes `out` atomically (temporary file
/// in the same directory, then rename).
pub fn build_rust_policy(plugin_dir: &Path, out: &Path, target_dir: &Path) -> Result<()> {
    let manifest = plugin_dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("no Cargo.toml in plugin directory {}", plugin_dir.display()))?;
    let manifest_text = fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let package =
        package_name(&manifest_text).with_context(|| format!("finding the package name in {}", manifest.display()))?;
    let workspace_root = workspace_root(&manifest)?;

    let core = cargo_build(&package, &manifest, &workspace_root, target_dir)
        .with_context(|| format!("building policy `{package}` ({})", plugin_dir.display()))?;
    let core_bytes = fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
    let component =
        componentize(&core_bytes).with_context(|| format!("componentizing policy `{package}` ({})", core.display()))?;
    check_policy_contract(&component)
        .with_context(|| format!("policy `{package}` does not fit the hookgate:policy world"))?;
    write_atomically(out, &component).with_context(|| format!("writing policy `{package}` to {}", out.display()))
}

/// The `name` of the `[package]` table of a Cargo.toml (a minimal reader, enough for the
/// usual `name = "…"` form).
pub fn package_name(manifest: &str) -> Result<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line.trim_end_matches(|c: char| c != ']') == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "name" {
            continue;
        }
        let value = value.trim();
        let value = value.split('#').next().unwrap_or("").trim();
        let name = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .ok_or_else(|| anyhow!("package name is not a plain string: {value}"))?;
        if name.is_empty() {
            bail!("empty package name");
        }
        return Ok(name.to_owned());
    }
    bail!("no `name` in a [package] table")
}

/// The nearest directory at or above the manifest's directory whose Cargo.toml has a
/// `[workspace]` table; the manifest's own directory when there is none.
fn workspace_root(manifest: &Path) -> Result<PathBuf> {
    let own_dir = manifest.parent().ok_or_else(|| anyhow!("{} has no parent directory", manifest.display()))?;
    let mut dir = Some(own_dir);
    while let Some(d) = dir {
        let candidate = d.join("Cargo.toml");
        if let Ok(text) = fs::read_to_string(&candidate)
            && text.lines().any(|l| l.trim() == "[workspace]")
        {
            return Ok(d.to_owned());
        }
        dir = d.parent();
    }
    Ok(own_dir.to_owned())
}

/// Runs cargo and returns the path of the produced cdylib `.wasm`.
fn cargo_build(package: &str, manifest: &Path, workspace_root: &Path, target_dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--message-format=json-render-diagnostics");
    for setting in GUEST_PROFILE {
        cmd.arg("--config").arg(setting);
    }
    // When hookgate itself runs under cargo (tests, build scripts), these would leak in
    // and change what is built.
    for var in ["CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "RUSTC_WORKSPACE_WRAPPER"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    let shown = format!(
        "{} build --release --target {TARGET} --manifest-path {} --target-dir {} (in {})",
        cargo.to_string_lossy(),
        manifest.display(),
        target_dir.display(),
        workspace_root.display()
    );
    let output = cmd.output().with_context(|| format!("could not run `{shown}`"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("`{shown}` failed ({}); last lines of its output:\n{}", output.status, tail(&stderr, STDERR_TAIL_LINES));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    find_cdylib(&stdout, manifest).ok_or_else(|| {
        anyhow!(
            "`{shown}` succeeded but produced no .wasm cdylib for `{package}` \
             (is `crate-type = [\"cdylib\"]` set in its [lib] section?); last lines of its output:\n{}",
            tail(&stderr, STDERR_TAIL_LINES)
        )
    })
}

/// Finds the cdylib `.wasm` of the package at `manifest` in cargo's JSON messages.
fn find_cdylib(messages: &str, manifest: &Path) -> Option<PathBuf> {
    let mut found = None;
    for line in messages.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let same_manifest = msg["manifest_path"].as_str().is_some_and(|p| Path::new(p) == manifest);
        let is_cdylib = msg["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if !(same_manifest && is_cdylib) {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if f.ends_with(".wasm") {
                    found = Some(PathBuf::from(f));
                }
            }
        }
    }
    found
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// so readers (the hot-reloading host) never see a partial file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file_name = path.file_name().ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> Result<()> {
        let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: header only.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
    /// The smallest valid core module: header only.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

    #[test]
    fn non_wasm_input_is_a_clear_error() {
        let e = componentize(b"hello world, not wasm").unwrap_err();
        assert!(format!("{e:#}").contains("not a WebAssembly binary"), "{e:#}");
        let e = componentize(b"(module)").unwrap_err();
        assert!(format!("{e:#}").contains("looks like WAT text"), "{e:#}");
        let e = componentize(b"").unwrap_err();
        assert!(format!("{e:#}").contains("0 bytes"), "{e:#}");
        let e = componentize(b"\0asm\x02\x00\x00\x00").unwrap_err();
        assert!(format!("{e:#}").contains("unknown WebAssembly version"), "{e:#}");
    }

    #[test]
    fn components_pass_through_unchanged() {
        assert_eq!(componentize(EMPTY_COMPONENT).unwrap(), EMPTY_COMPONENT);
        assert_eq!(wasm_kind(EMPTY_COMPONENT).unwrap(), WasmKind::Component);
        assert_eq!(inspect(EMPTY_COMPONENT).unwrap(), ComponentInfo::default());
    }

    #[test]
    fn a_core_module_without_wit_metadata_componentizes_to_an_empty_world() {
        // No component-type section: wit-component makes a component with no imports or
        // exports, which the contract check then refuses.
        assert_eq!(wasm_kind(EMPTY_MODULE).unwrap(), WasmKind::CoreModule);
        let c = componentize(EMPTY_MODULE).unwrap();
        assert_eq!(wasm_kind(&c).unwrap(), WasmKind::Component);
        let e = check_policy_contract(&c).unwrap_err();
        assert!(e.to_string().contains("does not export `evaluate`"), "{e:#}");
        assert!(inspect(EMPTY_MODULE).is_err());
    }

    #[test]
    fn reads_package_names() {
        let m = "[workspace]\nmembers=[]\n\n[package]\nversion = \"1\"\nname = \"token-auth\" # the name\n[lib]\nname = \"other\"\n";
        assert_eq!(package_name(m).unwrap(), "token-auth");
        assert_eq!(package_name("[package]\n name='x'\n").unwrap(), "x");
        assert!(package_name("[lib]\nname = \"x\"\n").is_err());
        assert!(package_name("[package]\nname.workspace = true\n").is_err());
    }

    #[test]
    fn finds_the_cdylib_in_cargo_messages() {
        let manifest = Path::new("/p/rust/a/Cargo.toml");
        let msgs = [
            r#"{"reason":"compiler-artifact","manifest_path":"/p/sdk/Cargo.toml","target":{"kind":["lib"]},"filenames":["/t/libsdk.rlib"]}"#,
            r#"not json"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/p/rust/a/Cargo.toml","target":{"kind":["cdylib"]},"filenames":["/t/a.wasm"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(find_cdylib(&msgs, manifest), Some(PathBuf::from("/t/a.wasm")));
        assert_eq!(find_cdylib(&msgs, Path::new("/p/other/Cargo.toml")), None);
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("hookgate-build-test-{}", std::process::id()));
        let path = dir.join("sub/out.wasm");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [OsString::from("out.wasm")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_plugin_dir_names_it() {
        let e = build_rust_policy(Path::new("/nonexistent/plugin"), Path::new("/tmp/x.wasm"), Path::new("/tmp/t"))
            .unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/plugin"), "{e:#}");
    }
}
