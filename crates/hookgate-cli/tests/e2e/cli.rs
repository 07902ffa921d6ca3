//! `hookgate check`, `eval` and `test` on the shipped tree, and their failures.

use crate::common::{Tree, hookgate_bin, policy, repo};
use std::process::{Command, Output};

fn hookgate(args: &[&str]) -> Output {
    Command::new(hookgate_bin()).args(args).output().expect("run hookgate")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn check_eval_and_test_work_on_the_shipped_tree() {
    let tree = Tree::shipped();
    let dir = tree.path();
    let dir = dir.to_str().unwrap();

    let out = hookgate(&["check", dir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is valid"), "{}", text(&out));

    let out = hookgate(&["test", dir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(" passed, 0 failed"), "{}", text(&out));

    let payload = repo().join("tests/payloads/publishStream.forbidden.json");
    let tenant = tree.path().join("defaultApp");
    let out = hookgate(&[
        "eval",
        "--tenant",
        tenant.to_str().unwrap(),
        "--method",
        "publishStream",
        "--payload",
        payload.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "403\n{\"error\":\"stream name 'forbidden_cam' is forbidden\",\"policy\":\"stream-guard\"}\n");

    let mixed = repo().join("tests/payloads/publishStream.mixed-case.json");
    let out = hookgate(&[
        "eval",
        "--policy",
        policy("rust/stream-guard").to_str().unwrap(),
        "--settings",
        r#"{"deny":["x*"]}"#,
        "--overwrite",
        "name",
        "--method",
        "publishStream",
        "--payload",
        mixed.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("200"));
    let body: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(body["name"], "b4e7-cam");
}

#[test]
fn test_fails_on_a_wrong_case_and_check_on_a_broken_tree() {
    let tree = Tree::shipped();
    tree.file(
        "defaultApp/tests/wrong.json",
        br#"{"name": "claims a forbidden name is allowed", "method": "publishStream",
             "payload_file": "../../../tests/payloads/publishStream.forbidden.json",
             "expect": {"status": 200}}"#,
    );
    let out = hookgate(&["test", tree.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("FAIL  defaultApp/tests/wrong.json: claims a forbidden name is allowed"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("status 403, expected 200"), "{}", text(&out));
    assert!(text(&out).contains(" passed, 1 failed"), "{}", text(&out));

    let broken = Tree::new();
    broken.tenant("defaultApp", "version = 1\n[methods.publishstream]\n", &[]).tenant(
        "other",
        "version = 1\n[policies.p]\nmodule = \"missing.wasm\"\n",
        &[],
    );
    let out = hookgate(&["check", broken.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("methods.publishstream: unknown WCS method 'publishstream' (did you mean 'publishStream'?)"),
        "{all}"
    );
    assert!(all.contains("policy 'p'"), "{all}");
    assert!(all.contains("2 problem(s)"), "{all}");

    // serve refuses a tree with an unusable manifest rather than letting its appKey fall to _default.
    let out = hookgate(&["serve", "--listen", "127.0.0.1:0", "--policies", broken.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot serve"), "{}", text(&out));
}
