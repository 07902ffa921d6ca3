//! Misbehaving policies: each limit obeyed by a policy inside it, and enforced on one that
//! breaks it, with the exact answer for both `on_error` values and the failure counted.

use crate::common::{Server, Tree, payload, repo, with_app_key};
use serde_json::json;
use std::time::Duration;

/// A tenant `<name>-<on_error>` running the faulty fixture with `settings` on publishStream
/// (direct) and StreamStatusEvent (event).
fn tenant(tree: &Tree, name: &str, on_error: &str, limits: &str, settings: &str) {
    let manifest = format!(
        r#"
version = 1
[limits]
{limits}
[policies.bad]
module = "faulty.wasm"
settings = {settings}
[methods.publishStream]
chain = ["bad"]
on_error = "{on_error}"
overwrite = ["name"]
[methods.StreamStatusEvent]
chain = ["bad"]
on_error = "{on_error}"
"#
    );
    tree.tenant(&format!("{name}-{on_error}"), &manifest, &[("faulty.wasm", "fixtures/faulty")]);
}

/// One limit: the tenant that breaks it and the one that stays inside it.
struct Case {
    name: &'static str,
    /// `[limits]` and policy settings of the tenant that breaks the limit.
    breaking: (&'static str, &'static str),
    /// The error text WCS receives with FAIL.
    message: &'static str,
    /// The cause counted in the metrics and the decision log.
    cause: &'static str,
    /// `[limits]` and policy settings of the tenant inside the limit.
    inside: (&'static str, &'static str),
}

const CASES: &[Case] = &[
    Case {
        name: "stack",
        breaking: ("", r#"{ mode = "recurse" }"#),
        message: "policy 'bad': policy trapped: wasm trap: call stack exhausted",
        cause: "trap",
        inside: ("", r#"{ mode = "allow" }"#),
    },
    Case {
        name: "output",
        breaking: ("max_output_kb = 64", r#"{ mode = "huge", mb = 1 }"#),
        message: "policy 'bad': policy returned a verdict of 1048587 bytes, over the limit of 65536 bytes",
        cause: "output-size",
        inside: ("max_output_kb = 64", r#"{ mode = "override", patch = { name = "short" } }"#),
    },
    Case {
        name: "memory",
        breaking: ("memory_mb = 16", r#"{ mode = "huge", mb = 32 }"#),
        message: "policy 'bad': policy exceeded its memory limit of 16 MiB",
        cause: "memory",
        inside: ("memory_mb = 16", r#"{ mode = "grow", mb = 4 }"#),
    },
    Case {
        name: "logs",
        breaking: ("", r#"{ mode = "log-flood", count = 1000000 }"#),
        message: "policy 'bad': policy made more than 10000 log calls in one evaluation",
        cause: "log-flood",
        inside: ("", r#"{ mode = "log-flood", count = 500 }"#),
    },
    Case {
        name: "logcap",
        breaking: ("log_calls = 100", r#"{ mode = "log-flood", count = 101 }"#),
        message: "policy 'bad': policy made more than 100 log calls in one evaluation",
        cause: "log-flood",
        inside: ("log_calls = 100\nlog_lines = 10\nlog_lines_per_s = 5", r#"{ mode = "log-flood", count = 100 }"#),
    },
    Case {
        name: "deadline",
        breaking: ("timeout_ms = 30", r#"{ mode = "spin" }"#),
        message: "policy 'bad': policy exceeded its deadline of 30 ms",
        cause: "deadline",
        inside: ("timeout_ms = 30", r#"{ mode = "allow" }"#),
    },
    Case {
        name: "table",
        breaking: ("table_elements = 1", r#"{ mode = "allow" }"#),
        message: "policy 'bad' is not loaded: validate-settings failed: policy could not be instantiated: \
                  table minimum size of 52 elements exceeds table limits",
        cause: "not-loaded",
        inside: ("table_elements = 20000", r#"{ mode = "allow" }"#),
    },
];

#[tokio::test]
async fn every_limit_is_obeyed_by_one_policy_and_enforced_on_another() {
    let tree = Tree::new();
    for Case { name, breaking, inside, .. } in CASES {
        for on_error in ["FAIL", "LOG"] {
            tenant(&tree, &format!("{name}-breaks"), on_error, breaking.0, breaking.1);
            tenant(&tree, &format!("{name}-inside"), on_error, inside.0, inside.1);
        }
    }
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).expect("kB")
    };
    // Warm up (one normal hook), then measure resident memory before the misbehaving set.
    server.hook("publishStream", &with_app_key("publishStream.json", "stack-inside-FAIL")).await;
    let before = rss(server.child.id());

    for Case { name, message, cause, .. } in CASES {
        for on_error in ["FAIL", "LOG"] {
            let app_key = format!("{name}-breaks-{on_error}");
            let direct = with_app_key("publishStream.json", &app_key);
            let answer = server.hook("publishStream", &direct).await;
            if on_error == "FAIL" {
                assert_eq!(
                    (answer.status, answer.json()),
                    (403, json!({"error": message, "policy": "bad"})),
                    "{app_key}"
                );
            } else {
                assert_eq!((answer.status, &answer.body), (200, &direct), "{app_key}");
            }
            let event = with_app_key("StreamStatusEvent.json", &app_key);
            let answer = server.hook("StreamStatusEvent", &event).await;
            if on_error == "FAIL" {
                assert_eq!(
                    (answer.status, answer.json()),
                    (500, json!({"error": message, "policy": "bad"})),
                    "{app_key}"
                );
            } else {
                assert_eq!((answer.status, &answer.body), (200, &event), "{app_key}");
            }

            let app_key = format!("{name}-inside-{on_error}");
            let direct = with_app_key("publishStream.json", &app_key);
            let answer = server.hook("publishStream", &direct).await;
            assert_eq!(answer.status, 200, "{app_key}: {}", String::from_utf8_lossy(&answer.body));
        }
        let (_, metrics) = server.admin_get("/metrics").await;
        for on_error in ["FAIL", "LOG"] {
            let line = format!(
                r#"hookgate_policy_failures_total{{tenant="{name}-breaks-{on_error}",policy="bad",cause="{cause}"}} 2"#
            );
            assert!(metrics.contains(&line), "missing `{line}`");
            let line = format!(r#"tenant="{name}-inside-{on_error}",policy="bad",cause="#);
            assert!(!metrics.contains(&line), "{name}-inside-{on_error} failed");
        }
    }
    // After the whole misbehaving set, a normal hook is still answered correctly, and the
    // server's resident memory stays within 2× of where it started.
    let direct = with_app_key("publishStream.json", "stack-inside-FAIL");
    let answer = server.hook("publishStream", &direct).await;
    assert_eq!((answer.status, &answer.body), (200, &direct));
    let after = rss(server.child.id());
    println!("resident memory: {before} kB before the misbehaving set, {after} kB after");
    assert!(after <= 2 * before, "resident memory grew from {before} kB to {after} kB");
}

#[tokio::test]
async fn a_tenant_past_its_concurrency_is_answered_by_the_fallback_at_once() {
    let tree = Tree::new();
    tenant(&tree, "busy", "FAIL", "max_concurrent = 1\ntimeout_ms = 400", r#"{ mode = "spin" }"#);
    tenant(&tree, "calm", "FAIL", "max_concurrent = 1", r#"{ mode = "allow" }"#);
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let busy = with_app_key("publishStream.json", "busy-FAIL");
    let first = {
        let (client, url, body) = (server.client(), format!("{}/rest/publishStream", server.base), busy.clone());
        tokio::spawn(async move { client.post(url).header("content-type", "application/json").body(body).send().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let second = server.hook("publishStream", &busy).await;
    assert_eq!(
        (second.status, second.json()),
        (403, json!({"error": "tenant 'busy-FAIL' is overloaded: 1 evaluations already running"}))
    );
    assert!(started.elapsed() < Duration::from_millis(250), "the overload answer did not wait for the slot");
    let calm = with_app_key("publishStream.json", "calm-FAIL");
    let answer = server.hook("publishStream", &calm).await;
    assert_eq!((answer.status, &answer.body), (200, &calm), "another tenant is not affected");
    let first = crate::common::Answer::from(first.await.unwrap().unwrap()).await;
    assert_eq!(first.json()["error"], "policy 'bad': policy exceeded its deadline of 400 ms");
    let (_, metrics) = server.admin_get("/metrics").await;
    assert!(metrics.contains(
        r#"hookgate_hooks_total{tenant="busy-FAIL",method="publishStream",verdict="fallback",fallback="overload"} 1"#
    ));
}

#[tokio::test]
async fn an_import_that_is_not_granted_is_refused_at_load_with_its_name() {
    // Built without hookgate's contract check (which would refuse it earlier, at build time).
    let out = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-unknown-unknown", "-p", "greedy", "--target-dir"])
        .arg(repo().join("target/wasm"))
        .current_dir(repo().join("plugins"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let core = std::fs::read(repo().join("target/wasm/wasm32-unknown-unknown/release/greedy.wasm")).unwrap();
    let component = hookgate_build::componentize(&core).unwrap();

    let tree = Tree::new();
    tree.tenant(
        "defaultApp",
        "version = 1\n[policies.greedy]\nmodule = \"greedy.wasm\"\n[methods.publishStream]\nchain = [\"greedy\"]\non_error = \"FAIL\"\n",
        &[],
    )
    .file("defaultApp/greedy.wasm", &component);
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let status = server.tenant_status("defaultApp").await.unwrap();
    let error = status["policies"][0]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("wasi:cli/environment@0.2.6"), "the refusal names the import: {error}");
    let answer = server.hook("publishStream", &payload("publishStream.json")).await;
    assert_eq!(answer.status, 403);
    assert!(answer.json()["error"].as_str().unwrap().starts_with("policy 'greedy' is not loaded: "));
}
