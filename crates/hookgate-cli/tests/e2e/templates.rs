//! `hookgate new` for each language: the new policy builds with its documented command, passes
//! its sample cases through `hookgate test` (`plugins/cases/hookgate-tree.py`), and loads
//! (`hookgate check`). The toolchains are those of `make guests` (`.ci/guest-toolchains`); a
//! missing one fails the test with the build's own message.

use crate::common::{hookgate_bin, repo};
use std::path::Path;
use std::process::Command;

/// Runs `command`, panicking with its output unless it succeeds; returns its stdout.
fn run(what: &str, command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|err| panic!("{what}: cannot run {command:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}): {command:?}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A Cargo workspace at `dir` like `plugins/` (its profile, dependencies and lock file) whose
/// members are `dir/rust/*`: where a Rust policy made outside the checkout builds.
fn rust_workspace(dir: &Path) {
    let manifest = std::fs::read_to_string(repo().join("plugins/Cargo.toml")).expect("plugins/Cargo.toml");
    let crates = repo().join("crates").canonicalize().expect("crates folder");
    let manifest = manifest
        .replace(r#"members = ["rust/*", "fixtures/*"]"#, r#"members = ["rust/*"]"#)
        .replace(r#"path = "../crates/"#, &format!(r#"path = "{}/"#, crates.display()));
    assert!(manifest.contains(r#"members = ["rust/*"]"#), "plugins/Cargo.toml changed its members line");
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("workspace manifest");
    std::fs::copy(repo().join("plugins/Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
}

/// `hookgate new --lang <lang> my-policy`, built, tested and checked.
fn new_policy(lang: &str) {
    let work = tempfile::tempdir().expect("temp dir");
    let parent = work.path().join(lang);
    std::fs::create_dir(&parent).expect("language folder");
    let name = "my-policy";
    run("hookgate new", Command::new(hookgate_bin()).args(["new", "--lang", lang, name, "--dir"]).arg(&parent));
    let policy = parent.join(name);
    let module = work.path().join("my_policy.wasm");
    if lang == "rust" {
        rust_workspace(work.path());
        run(
            "hookgate build",
            Command::new(hookgate_bin())
                .arg("build")
                .arg(&policy)
                .arg("-o")
                .arg(&module)
                .arg("--target-dir")
                .arg(repo().join("target/wasm")),
        );
    } else {
        let script = repo().join("plugins").join(lang).join("build.sh");
        run(
            &format!("{} (make guests installs its toolchain)", script.display()),
            Command::new(&script).arg(&policy).arg(&module),
        );
    }

    // The sample cases through the real host: one tenant per settings, `hookgate test` on the tree.
    let tree = work.path().join("tree");
    let report = run(
        "the sample cases through hookgate test",
        Command::new("python3")
            .arg(repo().join("plugins/cases/hookgate-tree.py"))
            .arg("--hookgate")
            .arg(hookgate_bin())
            .arg("--cases")
            .arg(policy.join("tests"))
            .arg("--module")
            .arg(&module)
            .args(["--policy", name, "--out"])
            .arg(&tree),
    );
    assert!(report.contains(" passed, 0 failed"), "{report}");

    // Loads: `hookgate check` on a tenant whose settings the policy accepts.
    let tenant = std::fs::read_dir(&tree)
        .expect("tree")
        .map(|entry| entry.expect("tenant").path())
        .find(|dir| {
            !std::fs::read_to_string(dir.join("tenant.toml")).expect("manifest").contains("must refuse these settings")
        })
        .expect("a tenant with settings the policy accepts");
    let checked = work.path().join("check");
    std::fs::create_dir_all(checked.join("t")).expect("check tree");
    for file in ["tenant.toml", "my_policy.wasm"] {
        std::fs::copy(tenant.join(file), checked.join("t").join(file)).expect("tenant file");
    }
    let check = run("hookgate check", Command::new(hookgate_bin()).arg("check").arg(&checked));
    assert!(check.contains(&format!("ok      {name}")), "{check}");
}

#[test]
fn new_rust_policy_builds_passes_its_cases_and_loads() {
    new_policy("rust");
}

#[test]
fn new_python_policy_builds_passes_its_cases_and_loads() {
    new_policy("python");
}

#[test]
fn new_js_policy_builds_passes_its_cases_and_loads() {
    new_policy("js");
}

#[test]
fn new_c_policy_builds_passes_its_cases_and_loads() {
    new_policy("c");
}

#[test]
fn new_refuses_an_existing_folder_and_a_bad_name() {
    let work = tempfile::tempdir().expect("temp dir");
    let new =
        |name: &str| Command::new(hookgate_bin()).args(["new", "--lang", "c", name, "--dir"]).arg(work.path()).output();
    assert!(new("guard").expect("hookgate new").status.success());
    let again = new("guard").expect("hookgate new");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    let bad = new("Guard").expect("hookgate new");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use lowercase letters"), "{bad:?}");
}
