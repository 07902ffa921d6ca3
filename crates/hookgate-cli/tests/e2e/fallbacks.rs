//! Every cell of the restOnError fallback table (DESIGN §4), for every way a policy fails.

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

/// (failure, settings, module file present?, overwrite list, expected error text)
const FAILURES: &[(&str, &str, bool, &str, &str)] = &[
    ("error", r#"{ mode = "error" }"#, true, "", "policy 'bad': policy returned an error: faulty: asked to fail"),
    (
        "trap",
        r#"{ mode = "trap" }"#,
        true,
        "",
        "policy 'bad': policy trapped: wasm trap: wasm `unreachable` instruction executed",
    ),
    ("deadline", r#"{ mode = "spin" }"#, true, "", "policy 'bad': policy exceeded its deadline of 20 ms"),
    ("memory", r#"{ mode = "grow", mb = 64 }"#, true, "", "policy 'bad': policy exceeded its memory limit of 8 MiB"),
    (
        "bad-json",
        r#"{ mode = "bad-json" }"#,
        true,
        r#""name""#,
        "policy 'bad': override is not valid JSON: key must be a string at line 1 column 2",
    ),
    (
        "not-object",
        r#"{ mode = "not-object" }"#,
        true,
        r#""name""#,
        "policy 'bad': override must be a JSON object (a merge patch), got an array",
    ),
    (
        "deny-status",
        r#"{ mode = "deny-status", status = 200 }"#,
        true,
        "",
        "policy 'bad': policy returned an invalid verdict: deny status 200 is not a 4xx or 5xx status",
    ),
    (
        "undeclared-field",
        r#"{ mode = "override", patch = { published = false } }"#,
        true,
        r#""name""#,
        "policy 'bad': override changes field 'published', which is not declared overwritable for publishStream",
    ),
    (
        "not-loaded",
        r#"{ mode = "allow" }"#,
        false,
        "",
        "policy 'bad' is not loaded: cannot read module: No such file or directory (os error 2)",
    ),
];

#[tokio::test]
async fn every_cell_of_the_fallback_table_for_every_failure() {
    let tree = Tree::new();
    for (failure, settings, present, overwrite, _) in FAILURES {
        for on_error in ["FAIL", "LOG"] {
            let modules: &[(&str, &str)] = if *present { &[("faulty.wasm", "fixtures/faulty")] } else { &[] };
            tree.tenant(
                &format!("{failure}-{on_error}"),
                &manifest(on_error, settings, "faulty.wasm", overwrite),
                modules,
            );
        }
    }
    let server = Server::start(&tree, &[]);

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
    for (failure, _, _, _, message) in FAILURES {
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
    assert!(cells >= 66, "{cells} cells exercised");
}
