//! A policy of each language written outside the repository, as an author would: `hookgate new`
//! in a folder of the system's temporary folder with the author kit of `make kit`
//! (`HOOKGATE_KIT=target/kit`), then in the new folder the two commands its README gives,
//! `hookgate build . -o my_policy.wasm` and `hookgate test .` (its own cases), then its
//! `tenant.toml` and module copied into a policy tree that `hookgate serve` serves, and hooks
//! posted. The toolchains are those `make guests` installs (`.ci/guest-toolchains`), found by
//! `hookgate build` beside the source build's kit; a missing one fails the test with
//! `hookgate build`'s message naming it. Rust builds in `target/wasm`, where `make policies` built
//! the same dependencies (`HOOKGATE_GUEST_TARGET_DIR`, which `hookgate build` reads): ~5 s warm
//! against ~2 min in a fresh target folder (wit-bindgen, serde and the SDK).

use crate::common::{Server, Tree, hookgate_bin, repo};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The policy's name, and the component `hookgate build` writes.
const NAME: &str = "my-policy";
const MODULE: &str = "my_policy.wasm";

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

/// `target/kit`, checked to hold the repository's templates as they are now (`make kit`
/// writes it; `make test` runs that first).
fn kit() -> PathBuf {
    let kit = repo().join("target/kit");
    let stale = |relative: &Path| {
        let source = std::fs::read(repo().join("templates").join(relative)).expect("template");
        std::fs::read(kit.join("templates").join(relative)).ok() != Some(source)
    };
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(repo().join("templates").join(&dir)).expect("templates") {
            let relative = dir.join(entry.expect("entry").file_name());
            if repo().join("templates").join(&relative).is_dir() {
                pending.push(relative);
            } else if relative != Path::new("README.md") {
                assert!(!stale(&relative), "{} is missing or stale: run `make kit`", kit.join(&relative).display());
            }
        }
    }
    kit
}

/// `hookgate …` with the kit of this checkout and the shared Rust target folder.
fn hookgate(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(hookgate_bin());
    command
        .args(args)
        .current_dir(dir)
        .env("HOOKGATE_KIT", kit())
        .env("HOOKGATE_GUEST_TARGET_DIR", repo().join("target/wasm"));
    command
}

/// The new policy of `lang`: made, built, its cases run, served.
fn new_policy(lang: &str) {
    let work = tempfile::Builder::new().prefix("hookgate-author-").tempdir_in(std::env::temp_dir()).expect("temp dir");
    let repo = repo().canonicalize().expect("repository");
    assert!(!work.path().starts_with(&repo), "{} is inside the repository", work.path().display());
    run(
        "hookgate new",
        hookgate(&["new", "--lang", lang, NAME, "--dir"], work.path()).arg(work.path().join("policies")),
    );
    let policy = work.path().join("policies").join(NAME);

    // The README's two commands, exactly, from the policy folder.
    let readme = std::fs::read_to_string(policy.join("README.md")).expect("README.md");
    let build = format!("hookgate build . -o {MODULE}");
    let test = "hookgate test .";
    assert!(readme.contains(&format!("```sh\n{build}\n{test}\n```")), "the README's commands changed:\n{readme}");
    let started = std::time::Instant::now();
    run(&format!("{build} ({lang})"), &mut hookgate(&["build", ".", "-o", MODULE], &policy));
    eprintln!("templates: {lang} built in {:.1} s", started.elapsed().as_secs_f64());
    let report = run(&format!("{test} ({lang})"), &mut hookgate(&["test", "."], &policy));
    assert!(report.contains("3 passed, 0 failed"), "{report}");

    // Deployed as its tenant.toml says: that manifest and the module in <tree>/<appKey>/.
    let tree = Tree::new();
    let tenant = tree.path().join("defaultApp");
    std::fs::create_dir(&tenant).expect("tenant folder");
    for file in ["tenant.toml", MODULE] {
        std::fs::copy(policy.join(file), tenant.join(file)).expect("deployed file");
    }
    let server = Server::start(&tree, &[]);
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        let denied = br#"{"appKey":"defaultApp","sessionId":"s1","name":"test-cam","mediaProvider":"WebRTC"}"#;
        let answer = server.hook("publishStream", denied).await;
        assert_eq!(answer.status, 403, "{lang}: {answer:?}");
        let body = answer.json();
        assert_eq!(body["policy"], NAME, "{lang}: {body}");
        assert_eq!(body["error"], "stream name 'test-cam' is not allowed", "{lang}: {body}");
        let allowed = br#"{"appKey":"defaultApp","sessionId":"s1","name":"lobby","mediaProvider":"WebRTC"}"#;
        let answer = server.hook("playStream", allowed).await;
        assert_eq!((answer.status, answer.body.as_slice()), (200, allowed.as_slice()), "{lang}: {answer:?}");
    });
}

#[test]
fn new_rust_policy_builds_tests_and_serves_outside_the_repository() {
    new_policy("rust");
}

#[test]
fn new_python_policy_builds_tests_and_serves_outside_the_repository() {
    new_policy("python");
}

#[test]
fn new_js_policy_builds_tests_and_serves_outside_the_repository() {
    new_policy("js");
}

#[test]
fn new_c_policy_builds_tests_and_serves_outside_the_repository() {
    new_policy("c");
}

#[test]
fn new_refuses_an_existing_folder_and_a_bad_name() {
    let work = tempfile::tempdir().expect("temp dir");
    let new = |name: &str| hookgate(&["new", "--lang", "c", name, "--dir"], work.path()).arg(work.path()).output();
    assert!(new("guard").expect("hookgate new").status.success());
    let again = new("guard").expect("hookgate new");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    let bad = new("Guard").expect("hookgate new");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use lowercase letters"), "{bad:?}");
}

/// Without a kit, `new` and `build` name every place they looked; a tool that is missing is
/// named with its variable and how to get it.
#[test]
fn a_missing_kit_or_tool_is_named() {
    let work = tempfile::tempdir().expect("temp dir");
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("folder");
    let no_kit = Command::new(hookgate_bin())
        .args(["new", "--lang", "python", NAME, "--dir"])
        .arg(work.path())
        .env("HOOKGATE_KIT", &empty)
        .output()
        .expect("hookgate new");
    let stderr = String::from_utf8_lossy(&no_kit.stderr);
    assert!(
        !no_kit.status.success() && stderr.contains("holds no author kit") && stderr.contains("make kit"),
        "{stderr}"
    );

    run("hookgate new", hookgate(&["new", "--lang", "python", NAME, "--dir"], work.path()).arg(work.path()));
    let missing = hookgate(&["build", NAME, "-o", MODULE], work.path())
        .env("COMPONENTIZE_PY", work.path().join("no-componentize-py"))
        .output()
        .expect("hookgate build");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success(), "{stderr}");
    assert!(stderr.contains("COMPONENTIZE_PY=") && stderr.contains("is not an executable file"), "{stderr}");
}
