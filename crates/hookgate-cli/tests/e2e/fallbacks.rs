//! Every cell of the restOnError fallback table (docs/protocol/wcs.md#failures-and-the-restonerror-fallback), for every way a policy fails.

use crate::common::{Server, Tree, with_app_key};
use serde_json::json;

/// A tenant whose four method kinds run one failing policy, all with the same `on_error`.
fn manifest(on_error: &str, policy_settings: &str, module: &str, overwrite: &str) -> String {
    format!(
        r#"
version = 1
[limits]
timeout_ms = 20
memory_mb = 8
[policies.bad]
module = "{module}"
settings = {policy_settings}
[methods.connect]
chain = ["bad"]
on_error = "{on_error}"
[methods.publishStream]
chain = ["bad"]
on_error = "{on_error}"
overwrite = [{overwrite}]
[methods.StreamStatusEvent]
chain = ["bad"]
on_error = "{on_error}"
[methods.OnCallEvent]
chain = ["bad"]
on_error = "{on_error}"
"#
    )
}

/// (failure, settings, module file present?, overwrite list, expected error text, cause in the
/// metrics and the decision log)
const FAILURES: &[(&str, &str, bool, &str, &str, &str)] = &[
    (
        "error",
        r#"{ mode = "error" }"#,
        true,
        "",
        "policy 'bad': policy returned an error: faulty: asked to fail",
        "error",
    ),
    (
        "trap",
        r#"{ mode = "trap" }"#,
        true,
        "",
        "policy 'bad': policy trapped: wasm trap: wasm `unreachable` instruction executed",
        "trap",
    ),
    ("deadline", r#"{ mode = "spin" }"#, true, "", "policy 'bad': policy exceeded its deadline of 20 ms", "deadline"),
    (
        "memory",
        r#"{ mode = "grow", mb = 64 }"#,
        true,
        "",
        "policy 'bad': policy exceeded its memory limit of 8 MiB",
        "memory",
    ),
    (
        "bad-json",
        r#"{ mode = "bad-json" }"#,
        true,
        r#""name""#,
        "policy 'bad': override is not valid JSON: key must be a string at line 1 column 2",
        "bad-output",
    ),
    (
        "not-object",
        r#"{ mode = "not-object" }"#,
        true,
        r#""name""#,
        "policy 'bad': override must be a JSON object (a merge patch), got an array",
        "bad-output",
    ),
    (
        "deny-status",
        r#"{ mode = "deny-status", status = 200 }"#,
        true,
        "",
        "policy 'bad': policy returned an invalid verdict: deny status 200 is not a 4xx or 5xx status",
        "bad-output",
    ),
    (
        "undeclared-field",
        r#"{ mode = "override", patch = { published = false } }"#,
        true,
        r#""name""#,
        "policy 'bad': override changes field 'published', which is not declared overwritable for publishStream",
        "bad-output",
    ),
    (
        "settings-refused",
        r#"{ mode = "reject-settings" }"#,
        true,
        "",
        "policy 'bad' is not loaded: settings refused by the policy: faulty: settings rejected as asked",
        "not-loaded",
    ),
    (
        "not-loaded",
        r#"{ mode = "allow" }"#,
        false,
        "",
        "policy 'bad' is not loaded: cannot read 'faulty.wasm': No such file or directory (os error 2)",
        "not-loaded",
    ),
];

#[tokio::test]
async fn every_cell_of_the_fallback_table_for_every_failure() {
    let tree = Tree::new();
    for (failure, settings, present, overwrite, _, _) in FAILURES {
        for on_error in ["FAIL", "LOG"] {
            let modules: &[(&str, &str)] = if *present { &[("faulty.wasm", "fixtures/faulty")] } else { &[] };
            tree.tenant(
                &format!("{failure}-{on_error}"),
                &manifest(on_error, settings, "faulty.wasm", overwrite),
                modules,
            );
        }
    }
    let log = tree.path().join("../decisions.jsonl");
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0", "--decision-log", log.to_str().unwrap()]);

    let kinds = [
        ("connect", "connect.json"),
        ("publishStream", "publishStream.json"),
        ("StreamStatusEvent", "StreamStatusEvent.json"),
        ("OnCallEvent", "OnCallEvent.json"),
    ];
    // (on_error, method) → expected status; None = 200 echo.
    let table = |on_error: &str, method: &str| -> Option<u16> {
        match (on_error, method) {
            (_, "connect") => Some(403),
            ("FAIL", "StreamStatusEvent") => Some(500),
            ("FAIL", _) => Some(403),
            _ => None,
        }
    };
    let mut cells = 0;
    for (failure, _, _, _, message, _) in FAILURES {
        for on_error in ["FAIL", "LOG"] {
            let app_key = format!("{failure}-{on_error}");
            for (method, file) in kinds {
                // `connect` may add fields, so an undeclared field is a failure only elsewhere;
                // publishStream is the method that declares `name` overwritable.
                if *failure == "undeclared-field" && method != "publishStream" {
                    continue;
                }
                let sent = with_app_key(file, &app_key);
                let answer = server.hook(method, &sent).await;
                let context = format!("{failure} × {on_error} × {method}: {}", String::from_utf8_lossy(&answer.body));
                match table(on_error, method) {
                    Some(status) => {
                        assert_eq!(answer.status, status, "{context}");
                        assert_eq!(answer.json(), json!({"error": message, "policy": "bad"}), "{context}");
                    }
                    None => assert_eq!((answer.status, &answer.body), (200, &sent), "{context}"),
                }
                cells += 1;
            }
        }
    }
    assert!(cells >= 74, "{cells} cells exercised");

    // Each failed hook is counted under its cause, and its decision-log line names it.
    let (_, metrics) = server.admin_get("/metrics").await;
    let lines = wait_for_lines(&log, cells).await;
    for (failure, _, _, _, _, cause) in FAILURES {
        let hooks = if *failure == "undeclared-field" { 1 } else { kinds.len() };
        for on_error in ["FAIL", "LOG"] {
            let tenant = format!("{failure}-{on_error}");
            let line =
                format!(r#"hookgate_policy_failures_total{{tenant="{tenant}",policy="bad",cause="{cause}"}} {hooks}"#);
            assert!(metrics.contains(&line), "missing `{line}`");
            let logged: Vec<_> = lines.iter().filter(|line| line["tenant"] == tenant.as_str()).collect();
            assert_eq!(logged.len(), hooks, "{tenant}: one decision-log line per hook");
            for line in logged {
                assert_eq!(line["fallback"], *cause, "{tenant}: {line}");
            }
        }
    }
}

/// The decision log's lines once it holds `count` of them (its writer thread flushes promptly).
async fn wait_for_lines(log: &std::path::Path, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().count() >= count {
            return text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the decision log never held {count} lines");
}
