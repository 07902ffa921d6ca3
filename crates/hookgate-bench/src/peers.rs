//! The peers `hookgate-bench run` serves out of process: the Node.js script, and the policy
//! tree of the second hookgate row (stream-guard with `reuse = true`).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The stream-guard rule as a Node.js script (`peers/stream_guard.js`).
const NODE_SCRIPT: &str = include_str!("../peers/stream_guard.js");

/// The tenant whose stream-guard table gets `reuse = true`, and that table's header.
const REUSE_TENANT: &str = "defaultApp/tenant.toml";
/// The header of the policy table that gets `reuse = true`.
const STREAM_GUARD_TABLE: &str = "[policies.stream-guard]";

/// Writes the Node.js peer into `dir` and returns its path.
pub(crate) fn write_node_script(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("stream_guard.js");
    std::fs::write(&path, NODE_SCRIPT).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Copies the policy tree `policies` to `dest` and sets `reuse = true` on the stream-guard
/// policy of its `defaultApp` tenant; returns `dest`.
pub(crate) fn reuse_tree(policies: &Path, dest: &Path) -> Result<PathBuf> {
    copy_tree(policies, dest)?;
    let manifest = dest.join(REUSE_TENANT);
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    std::fs::write(&manifest, with_reuse(&text)?).with_context(|| format!("cannot write {}", manifest.display()))?;
    Ok(dest.to_path_buf())
}

/// `manifest` with `reuse = true` as the first key of the stream-guard policy table.
fn with_reuse(manifest: &str) -> Result<String> {
    let mut out = String::with_capacity(manifest.len() + 16);
    let mut found = false;
    for line in manifest.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == STREAM_GUARD_TABLE {
            out.push_str("reuse = true\n");
            found = true;
        }
    }
    if !found {
        bail!("{REUSE_TENANT} has no {STREAM_GUARD_TABLE} table");
    }
    Ok(out)
}

/// Copies the directory `src` recursively to `dest` (files and directories only).
fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    for entry in std::fs::read_dir(src).with_context(|| format!("cannot list {}", src.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", src.display()))?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        if entry.file_type().with_context(|| format!("cannot stat {}", from.display()))?.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Node.js peer, run by node, answers every probe as the native rule does (skipped,
    /// saying so, where no `node` is installed).
    #[test]
    fn the_node_peer_answers_every_probe_as_the_native_rule() {
        if std::process::Command::new("node").arg("--version").output().is_err() {
            eprintln!("SKIPPED: no node on PATH");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let script = write_node_script(dir.path()).expect("script");
        let mut command = std::process::Command::new("node");
        command.arg(&script).arg("127.0.0.1:0");
        let server =
            crate::process::ServerProcess::spawn(command, crate::servers::READY_PREFIX, dir.path().join("node.log"))
                .expect("node listens");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/payloads/publishStream.json");
        let payload = std::fs::read(root).expect("the shipped payload");
        for method in ["publishStream", "playStream"] {
            crate::checks::check_rule(server.addr(), &format!("/rest/{method}"), method, &payload)
                .unwrap_or_else(|err| panic!("{method}: {err:#}{}", server.log_tail()));
        }
        server.stop().expect("still running");
    }

    #[test]
    fn reuse_goes_into_the_stream_guard_table_only() {
        let manifest = "[policies.token-auth]\nmodule = \"a.wasm\"\n\n[policies.stream-guard]\nmodule = \"s.wasm\"\n";
        let edited = with_reuse(manifest).expect("has the table");
        assert_eq!(
            edited,
            "[policies.token-auth]\nmodule = \"a.wasm\"\n\n[policies.stream-guard]\nreuse = true\nmodule = \"s.wasm\"\n"
        );
        assert!(with_reuse("[policies.audit]\n").is_err());
    }

    #[test]
    fn the_tree_is_copied_whole_with_reuse_in_the_shipped_manifest() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies").join(REUSE_TENANT);
        let src = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(src.path().join("defaultApp/tests")).expect("dirs");
        std::fs::copy(&shipped, src.path().join(REUSE_TENANT)).expect("shipped manifest");
        std::fs::write(src.path().join("defaultApp/stream_guard.wasm"), b"\0asm module").expect("module");
        std::fs::write(src.path().join("defaultApp/tests/case.json"), b"{}").expect("case");
        let dest = tempfile::tempdir().expect("temp dir");
        let tree = reuse_tree(src.path(), &dest.path().join("tree")).expect("copies");
        let manifest = std::fs::read_to_string(tree.join(REUSE_TENANT)).expect("manifest");
        assert!(manifest.contains("[policies.stream-guard]\nreuse = true\n"), "{manifest}");
        assert_eq!(manifest.matches("reuse = true").count(), 1, "{manifest}");
        assert_eq!(std::fs::read(tree.join("defaultApp/stream_guard.wasm")).expect("module"), b"\0asm module");
        assert_eq!(std::fs::read(tree.join("defaultApp/tests/case.json")).expect("case"), b"{}");
    }
}
