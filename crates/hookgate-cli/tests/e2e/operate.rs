//! Operating hookgate: tenants added and removed while serving, the admin API, metrics,
//! readiness, the decision log, and SIGTERM.

use crate::common::{Server, Tree, payload, policy, with_app_key};
use serde_json::json;
use std::time::{Duration, Instant};

const GUARD: &str = r#"
version = 1
[policies.guard]
module = "guard.wasm"
settings = { deny = ["forbidden_*"], status = 451 }
[methods.publishStream]
chain = ["guard"]
on_error = "FAIL"
overwrite = ["name"]
"#;

#[tokio::test]
async fn tenant_folders_added_broken_fixed_and_removed_while_serving() {
    let tree = Tree::new();
    tree.tenant("_default", "version = 1\n", &[]);
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let forbidden = with_app_key("publishStream.forbidden.json", "acme");

    let answer = server.hook("publishStream", &forbidden).await;
    assert_eq!((answer.status, answer.generation.as_deref()), (200, Some("_default/1")), "acme falls to _default");

    // A new folder with a manifest that does not parse: acme must not fall to _default meanwhile.
    std::fs::create_dir_all(tree.path().join("acme")).unwrap();
    std::fs::copy(policy("rust/stream-guard"), tree.path().join("acme/guard.wasm")).unwrap();
    std::fs::write(tree.path().join("acme/tenant.toml"), "version = 1\n[methods.publishStream\n").unwrap();
    server
        .wait_for("acme", "a failed first build", |s| s.is_some_and(|s| s["last_reload"]["outcome"] == "failed"))
        .await;
    let (status, body) = server.admin_get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["without_generation"], json!(["acme"]));
    let answer = server.hook("publishStream", &forbidden).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["error"], "tenant 'acme' has no loaded generation (see GET /api/policies)");

    // Fixed: acme has its own chain now.
    std::fs::write(tree.path().join("acme/tenant.toml"), GUARD).unwrap();
    server.wait_for("acme", "generation 1", |s| s.is_some_and(|s| s["generation"] == 1)).await;
    let answer = server.hook("publishStream", &forbidden).await;
    assert_eq!((answer.status, answer.generation.as_deref()), (451, Some("acme/1")));
    assert_eq!(server.admin_get("/readyz").await.0, 200);

    // Removed: its appKey falls to _default again.
    std::fs::remove_dir_all(tree.path().join("acme")).unwrap();
    server.wait_for("acme", "removal", |s| s.is_none()).await;
    let answer = server.hook("publishStream", &forbidden).await;
    assert_eq!((answer.status, answer.generation.as_deref()), (200, Some("_default/1")));
}

#[tokio::test]
async fn admin_api_metrics_readiness_and_decision_log_report_what_happened() {
    let tree = Tree::shipped();
    let log = tree.path().join("../decisions.jsonl");
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0", "--decision-log", log.to_str().unwrap()]);

    let (status, body) = server.admin_get("/readyz").await;
    assert_eq!(
        (status, serde_json::from_str::<serde_json::Value>(&body).unwrap()),
        (200, json!({"status": "ready", "tenants": 2, "without_generation": []}))
    );

    let status = server.tenant_status("defaultApp").await.expect("defaultApp listed");
    assert_eq!(status["generation"], 1);
    assert_eq!(status["last_reload"], serde_json::Value::Null);
    let guard = status["policies"].as_array().unwrap().iter().find(|p| p["name"] == "stream-guard").unwrap();
    assert_eq!(guard["module"], "stream_guard.wasm");
    let bytes = std::fs::read(tree.path().join("defaultApp/stream_guard.wasm")).unwrap();
    let digest = guard["digest"].as_str().unwrap();
    assert_eq!(digest.len(), "sha256:".len() + 64);
    assert_eq!(digest, sha256_hex(&bytes));
    assert_eq!(guard["reuse"], false);
    assert!(status["loaded_at"].as_str().unwrap().ends_with('Z'));

    let token = "alice:4102444800:ff94c3f0a819e9466cae13335b0083e2877b7c42032e0e1a1c02366e6b97bcdb";
    assert_eq!(server.hook("connect", &payload("connect.hmac-token.json")).await.status, 200);
    assert_eq!(server.hook("publishStream", &payload("publishStream.forbidden.json")).await.status, 403);
    assert_eq!(server.hook("publishStream", &payload("publishStream.mixed-case.json")).await.status, 200);
    let answer = server
        .post(
            "/rest/StreamStatusEvent",
            &payload("StreamStatusEvent.json"),
            Some("application/json"),
            Some("Basic c2VjcmV0OnNlY3JldA=="),
        )
        .await;
    assert_eq!(answer.status, 200);

    let (status, metrics) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"hookgate_hooks_total{tenant="defaultApp",method="connect",verdict="allow",fallback=""} 1"#,
        r#"hookgate_hooks_total{tenant="defaultApp",method="publishStream",verdict="deny",fallback=""} 1"#,
        r#"hookgate_hooks_total{tenant="defaultApp",method="publishStream",verdict="override",fallback=""} 1"#,
        r#"hookgate_hooks_total{tenant="defaultApp",method="StreamStatusEvent",verdict="allow",fallback=""} 1"#,
        r#"hookgate_generation{tenant="defaultApp"} 1"#,
        r#"hookgate_reloads_total{tenant="defaultApp",outcome="ok"} 1"#,
        r#"hookgate_evaluation_duration_seconds_count{tenant="defaultApp",policy="stream-guard"} 2"#,
        r#"hookgate_hook_duration_seconds_count{tenant="defaultApp"} 4"#,
        "hookgate_policy_instances_kept 0",
        "hookgate_policy_instances_reused_total 0",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }

    // The decision log: one JSON line per hook, no token, no Authorization header.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 4 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let lines: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect();
    assert_eq!(lines.len(), 4, "{text}");
    let deny = &lines[1];
    assert_eq!(deny["tenant"], "defaultApp");
    assert_eq!(deny["generation"], 1);
    assert_eq!(deny["method"], "publishStream");
    assert_eq!(deny["kind"], "direct");
    assert_eq!(deny["session_id"], "/192.168.1.102:4388/192.168.1.101:8443");
    assert_eq!(deny["status"], 403);
    assert_eq!(deny["policies"][0]["policy"], "stream-guard");
    assert_eq!(deny["policies"][0]["verdict"], "deny");
    assert!(deny["latency_us"].as_u64().unwrap() > 0);
    assert!(deny["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        !text.contains(token) && !text.contains("c2VjcmV0") && !text.contains("ff94c3f0"),
        "a secret reached the log:\n{text}"
    );

    // A forced reload builds a new generation and is reported.
    let (status, body) = server.post_admin("/api/reload").await;
    assert_eq!(status, 200, "{body}");
    let status = server.tenant_status("defaultApp").await.unwrap();
    assert_eq!(status["generation"], 2);
    assert_eq!(status["last_reload"]["outcome"], "ok");
}

#[tokio::test]
async fn sigterm_finishes_in_flight_hooks_and_exits_zero() {
    let tree = Tree::new();
    tree.tenant(
        "defaultApp",
        r#"
version = 1
[limits]
timeout_ms = 400
[policies.slow]
module = "faulty.wasm"
settings = { mode = "spin" }
[methods.publishStream]
chain = ["slow"]
on_error = "LOG"
"#,
        &[("faulty.wasm", "fixtures/faulty")],
    );
    let mut server = Server::start(&tree, &[]);
    let sent = payload("publishStream.json");
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        let (client, url, body) = (server.client(), format!("{}/rest/publishStream", server.base), sent.clone());
        in_flight.push(tokio::spawn(async move {
            client.post(url).header("content-type", "application/json").body(body).send().await
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    for request in in_flight {
        let response = request.await.unwrap().expect("an accepted hook is answered after SIGTERM");
        let answer = crate::common::Answer::from(response).await;
        // Each spun to its 400 ms deadline; LOG answers the received bytes.
        assert_eq!((answer.status, &answer.body), (200, &sent));
    }
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let refused = server.client().post(format!("{}/rest/publishStream", server.base)).body(sent).send().await;
    assert!(refused.is_err(), "no new connections after shutdown");
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default())
}

#[tokio::test]
async fn compiled_modules_are_cached_on_disk_for_the_next_start() {
    let tree = Tree::new();
    tree.tenant("defaultApp", GUARD, &[("guard.wasm", "rust/stream-guard")]);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let files = || walk(cache.path());
    // (`hookgate-bench guests` measures what the cache saves: seconds for Python and JS.)
    for (start, hits, misses) in [("first", 0, 1), ("second", 1, 0)] {
        let server = Server::start(&tree, &["--cache-dir", cache_dir, "--admin-listen", "127.0.0.1:0"]);
        let body = with_app_key("publishStream.json", "defaultApp");
        assert_eq!(server.hook("publishStream", &body).await.status, 200, "{start} start");
        let (_, metrics) = server.admin_get("/metrics").await;
        for line in [
            format!("hookgate_compile_cache_hits_total {hits}"),
            format!("hookgate_compile_cache_misses_total {misses}"),
        ] {
            assert!(metrics.lines().any(|l| l == line), "{start} start: missing `{line}` in\n{metrics}");
        }
        if start == "first" {
            assert!(!files().is_empty(), "the first start wrote the compiled module under {cache_dir}");
        }
    }
}

#[tokio::test]
async fn a_reuse_policy_is_listed_as_such_and_its_kept_instance_counted() {
    let tree = Tree::new();
    let manifest = GUARD.replace("status = 451 }\n", "status = 451 }\nreuse = true\n");
    tree.tenant("defaultApp", &manifest, &[("guard.wasm", "rust/stream-guard")]);
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let status = server.tenant_status("defaultApp").await.expect("defaultApp listed");
    assert_eq!(status["policies"][0]["reuse"], true, "{status}");

    // The settings check at load instantiated it; the three hooks, one after the other, run in it.
    let body = with_app_key("publishStream.json", "defaultApp");
    for _ in 0..3 {
        assert_eq!(server.hook("publishStream", &body).await.status, 200);
    }
    let (_, metrics) = server.admin_get("/metrics").await;
    for line in [
        "hookgate_policy_instances_kept 1",
        "hookgate_policy_instances_reused_total 3",
        "hookgate_policy_instances_discarded_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in\n{metrics}");
    }
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// logrotate's way: rename the file, then SIGHUP; under load, M times. Every hook's line is in
/// one of the files, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_under_load_reopens_the_decision_log_losing_and_splitting_no_line() {
    const HOOKS: usize = 4_000;
    const CLIENTS: usize = 16;
    const ROTATIONS: usize = 10;
    let tree = Tree::shipped();
    let dir = tree.path().join("../decisions");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("decisions.jsonl");
    let mut server = Server::start(&tree, &["--decision-log", log.to_str().unwrap()]);
    let sent = payload("publishStream.json");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, body) = (server.client(), format!("{}/rest/publishStream", server.base), sent.clone());
            tokio::spawn(async move {
                for _ in 0..HOOKS / CLIENTS {
                    let response = client.post(&url).header("content-type", "application/json").body(body.clone());
                    response.send().await.expect("hookgate answers");
                }
            })
        })
        .collect();
    let pid = server.child.id().to_string();
    for rotation in 0..ROTATIONS {
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The writer reopens once the lines queued before the signal are written.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.exists() {
            assert!(Instant::now() < deadline, "rotation {rotation}: never reopened");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        std::fs::rename(&log, dir.join(format!("decisions.jsonl.{rotation}"))).unwrap();
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    }
    for client in clients {
        client.await.unwrap();
    }
    assert!(server.child.try_wait().unwrap().is_none(), "SIGHUP must not stop the server");
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    let (mut lines, mut files) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "a file ends inside a line");
        files += usize::from(!text.is_empty());
        for line in text.lines() {
            let line: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
            assert_eq!(line["method"], "publishStream");
            lines += 1;
        }
    }
    assert_eq!(lines, HOOKS);
    assert!(files > 1, "no rotation took effect: {files} file(s) with lines");
}

#[tokio::test]
async fn sigterm_writes_every_decision_line_before_exiting() {
    const HOOKS: usize = 2_000;
    let tree = Tree::shipped();
    let log = tree.path().join("../decisions.jsonl");
    let mut server = Server::start(&tree, &["--decision-log", log.to_str().unwrap()]);
    let sent = payload("publishStream.json");
    let hooks: Vec<_> = (0..HOOKS)
        .map(|_| {
            let (client, url, body) = (server.client(), format!("{}/rest/publishStream", server.base), sent.clone());
            tokio::spawn(async move {
                let response = client.post(url).header("content-type", "application/json").body(body).send().await;
                response.expect("hookgate answers").status().as_u16()
            })
        })
        .collect();
    for hook in hooks {
        assert_ne!(hook.await.unwrap(), 0);
    }
    // SIGTERM right after the last answer: the lines still queued must reach the file.
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    assert_eq!(lines.len(), HOOKS);
    assert!(lines.iter().all(|line| line["method"] == "publishStream"));
}
