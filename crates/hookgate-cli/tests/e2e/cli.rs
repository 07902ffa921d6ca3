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
             "payload_file": "payloads/publishStream.forbidden.json",
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

#[test]
fn config_file_then_variables_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        r#"
policies = "trees/main"
body_limit = 2048
[hooks]
listen = "127.0.0.1:18001"
[admin]
listen = "127.0.0.1:18002"
[limits]
timeout_ms = 25
[decision_log]
target = "stdout"
[cluster]
redis_url = "redis://:hunter2@redis-a:6379/0"
redis_password_file = "redis.password"
"#,
    )
    .unwrap();
    let out = Command::new(hookgate_bin())
        .args(["serve", "--print-config", "--config", config.to_str().unwrap(), "--body-limit", "4096"])
        .env("HOOKGATE_LISTEN", "127.0.0.1:18003")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["policies"].as_str(), Some(dir.path().join("trees/main").to_str().unwrap()));
    assert_eq!(printed["body_limit"].as_integer(), Some(4096), "the flag wins");
    assert_eq!(printed["hooks"]["listen"].as_str(), Some("127.0.0.1:18003"), "the variable wins over the file");
    assert_eq!(printed["admin"]["listen"].as_str(), Some("127.0.0.1:18002"));
    assert_eq!(printed["limits"]["timeout_ms"].as_integer(), Some(25));
    assert_eq!(printed["limits"]["memory_mb"].as_integer(), Some(32));
    assert_eq!(printed["decision_log"]["target"].as_str(), Some("stdout"));
    assert!(printed["cache_dir"].as_str().is_some_and(|dir| dir.ends_with("hookgate")), "{printed:?}");
    assert_eq!(printed["cluster"]["redis_url"].as_str(), Some("redis://:***@redis-a:6379/0"), "the password is masked");
    assert_eq!(
        printed["cluster"]["redis_password_file"].as_str(),
        Some(dir.path().join("redis.password").to_str().unwrap())
    );
    let out = Command::new(hookgate_bin())
        .args(["serve", "--print-config", "--config", config.to_str().unwrap()])
        .env("HOOKGATE_REDIS_URL", "redis://redis-b:6380")
        .output()
        .unwrap();
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["cluster"]["redis_url"].as_str(), Some("redis://redis-b:6380"), "the variable wins");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));

    // The fleet example in examples/fleet is a valid config file.
    let fleet = repo().join("examples/fleet/hookgate.toml");
    let out = Command::new(hookgate_bin()).args(["serve", "--print-config", "--config"]).arg(&fleet).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["cluster"]["redis_url"].as_str(), Some("redis://hookgate@redis.internal:6379/0"));

    std::fs::write(&config, "[limits]\ntimeout_ms = 0\n").unwrap();
    let out = Command::new(hookgate_bin())
        .args(["serve", "--print-config", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("hookgate.toml: limits.timeout_ms: must be between 1 and 60000, got 0"),
        "{}",
        text(&out)
    );

    std::fs::write(&config, "[hooks]\nlisten = \"x\"\nport = 1\n").unwrap();
    let out = Command::new(hookgate_bin())
        .args(["serve", "--print-config", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown field `port`"), "{}", text(&out));
}

#[test]
fn check_and_print_config_refuse_a_bad_value_in_any_section_by_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    let tree = Tree::shipped();
    for (toml_text, expected) in [
        ("[send_data]\nulr = \"http://wcs:8081\"\n", "hookgate.toml: send_data.ulr: unknown field `ulr`"),
        (
            "[webSocketEvents]\nissuer = \"i\"\nusers = \"u.toml\"\nkeys = []\nport = 70000\n",
            "hookgate.toml: webSocketEvents.port: invalid value: integer `70000`, expected u16",
        ),
        ("[log]\nformat = \"xml\"\n", "hookgate.toml: log.format: must be text or json, got \"xml\""),
    ] {
        std::fs::write(&config, toml_text).unwrap();
        let config = config.to_str().unwrap();
        for args in [
            vec!["check", tree.path().to_str().unwrap(), "--config", config],
            vec!["serve", "--print-config", "--config", config],
        ] {
            let out = hookgate(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
        }
    }
}
