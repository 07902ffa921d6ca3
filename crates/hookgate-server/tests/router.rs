//! The hook router in-process (`tower::ServiceExt::oneshot`, no binary, no socket), built by
//! [`Server::from_config`] on a real policy tree: health, malformed requests, an echo, a deny,
//! and every cell of the fallback table (method kind × `on_error`) for a policy that traps and
//! one that misses its deadline.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hookgate_server::{Overrides, Server, ServerConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tower::ServiceExt as _;

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A policy built from `plugins/<plugin>` where the end-to-end suite builds it
/// (`target/test-policies`), once per test process.
fn policy(plugin: &str) -> PathBuf {
    static BUILD: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    let _one_at_a_time = BUILD.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let out = repo().join("target/test-policies").join(format!("{}.wasm", plugin.replace('/', "-")));
    hookgate_build::build_rust_policy(&repo().join("plugins").join(plugin), &out, &repo().join("target/wasm"))
        .unwrap_or_else(|err| panic!("building {plugin}: {err:#}"));
    out
}

fn payload(name: &str) -> Value {
    let bytes = std::fs::read(repo().join("tests/payloads").join(name)).expect("payload");
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

/// A tenant whose four method kinds run one policy, all with the same `on_error`.
fn failing_tenant(on_error: &str, mode: &str) -> String {
    let methods: String = ["connect", "publishStream", "StreamStatusEvent", "OnCallEvent"]
        .iter()
        .map(|method| format!("[methods.{method}]\nchain = [\"bad\"]\non_error = \"{on_error}\"\n"))
        .collect();
    format!(
        "version = 1\n[limits]\ntimeout_ms = 20\n[policies.bad]\nmodule = \"faulty.wasm\"\nsettings = {{ mode = \"{mode}\" }}\n{methods}"
    )
}

const GUARD: &str = r#"
version = 1
[policies.guard]
module = "guard.wasm"
settings = { deny = ["forbidden_*"], status = 451 }
[methods.publishStream]
chain = ["guard"]
"#;

/// The hook router of [`server`].
async fn router() -> (axum::Router, tempfile::TempDir) {
    let (server, dir) = server().await;
    (server.router(), dir)
}

/// A server on a temporary tree: `guarded` (stream-guard on publishStream) and one tenant per
/// failure × `on_error`, with a body limit of 4 KiB.
async fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("policies");
    let tenant = |name: &str, manifest: &str, module: (&str, &Path)| {
        std::fs::create_dir_all(tree.join(name)).unwrap();
        std::fs::write(tree.join(name).join("tenant.toml"), manifest).unwrap();
        std::fs::copy(module.1, tree.join(name).join(module.0)).unwrap();
    };
    tenant("guarded", GUARD, ("guard.wasm", &policy("rust/stream-guard")));
    let faulty = policy("fixtures/faulty");
    for mode in ["trap", "spin"] {
        for on_error in ["FAIL", "LOG"] {
            tenant(&format!("{mode}-{on_error}"), &failing_tenant(on_error, mode), ("faulty.wasm", &faulty));
        }
    }
    let overrides = Overrides {
        policies: Some(tree),
        listen: Some("127.0.0.1:0".into()),
        cache_dir: Some("off".into()),
        body_limit: Some(4096),
        ..Overrides::default()
    };
    let config = ServerConfig::resolve(None, &overrides).unwrap();
    (Server::from_config(config).await.unwrap(), dir)
}

/// Sends one request: status and body.
async fn send(
    router: &axum::Router,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    (status, axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
}

async fn hook(router: &axum::Router, method: &str, body: &Value) -> (StatusCode, Vec<u8>) {
    send(router, Method::POST, &format!("/rest/{method}"), Some("application/json"), serde_json::to_vec(body).unwrap())
        .await
}

#[track_caller]
fn json_of(body: &[u8]) -> Value {
    match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => panic!("not JSON: {:?}", String::from_utf8_lossy(body)),
    }
}

#[tokio::test]
async fn health_malformed_requests_echo_and_deny() {
    let (router, _tree) = router().await;
    let (status, body) = send(&router, Method::GET, "/healthz", None, Vec::new()).await;
    assert_eq!((status, json_of(&body)), (StatusCode::OK, json!({"status": "ok"})));

    // Every path is a hook's: another HTTP method is refused whatever the path.
    for path in ["/nowhere", "/rest/connect", "/"] {
        let (status, body) = send(&router, Method::GET, path, None, Vec::new()).await;
        assert_eq!((status, body.len()), (StatusCode::METHOD_NOT_ALLOWED, 0), "GET {path}");
    }
    let (status, body) = send(&router, Method::POST, "/", Some("application/json"), b"{}".to_vec()).await;
    let no_method = json!({"error": "no method in the path: hooks are POST /{prefix…}/{method}"});
    assert_eq!((status, json_of(&body)), (StatusCode::NOT_FOUND, no_method.clone()));
    let (status, body) = send(&router, Method::POST, "/rest/", Some("application/json"), b"{}".to_vec()).await;
    assert_eq!((status, json_of(&body)), (StatusCode::NOT_FOUND, no_method));

    let connect = serde_json::to_vec(&payload("connect.json")).unwrap();
    let (status, body) = send(&router, Method::POST, "/rest/connect", Some("text/plain"), connect.clone()).await;
    let expected = json!({"error": "unsupported content type 'text/plain': hooks must be sent as application/json"});
    assert_eq!((status, json_of(&body)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, expected));
    let (status, body) = send(&router, Method::POST, "/rest/connect", None, connect).await;
    let expected = json!({"error": "unsupported content type 'none': hooks must be sent as application/json"});
    assert_eq!((status, json_of(&body)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, expected));
    let (status, body) = send(&router, Method::POST, "/rest/connect", Some("application/json"), vec![b' '; 4097]).await;
    let expected = json!({"error": "body exceeds the limit of 4096 bytes"});
    assert_eq!((status, json_of(&body)), (StatusCode::PAYLOAD_TOO_LARGE, expected));

    // A tenant without a rule for the method: 200, the received bytes.
    let mut sent = payload("publishStream.json");
    sent["appKey"] = json!("guarded");
    let (status, body) = hook(&router, "publishStream", &sent).await;
    assert_eq!((status, json_of(&body)), (StatusCode::OK, sent.clone()));
    sent["name"] = json!("forbidden_stream");
    let (status, body) = hook(&router, "publishStream", &sent).await;
    assert_eq!(status.as_u16(), 451, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["policy"], "guard");
}

#[tokio::test]
async fn every_hook_is_counted_in_its_series() {
    let (server, _tree) = server().await;
    let router = server.router();
    let mut sent = payload("publishStream.json");
    sent["appKey"] = json!("guarded");
    for _ in 0..3 {
        assert_eq!(hook(&router, "publishStream", &sent).await.0, StatusCode::OK);
    }
    sent["name"] = json!("forbidden_stream");
    assert_eq!(hook(&router, "publishStream", &sent).await.0.as_u16(), 451);
    assert_eq!(hook(&router, "trickPlay", &sent).await.0, StatusCode::OK);

    let admin = hookgate_server::admin_router(server.state().clone(), hookgate_server::AdminAccess::default());
    let request = Request::get("/metrics").header("host", "localhost").body(Body::empty()).unwrap();
    let response = admin.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text =
        String::from_utf8(axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    let series = |line: &str| text.lines().find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')).unwrap_or("absent");
    let hooks = |method: &str, verdict: &str| {
        series(&format!(
            r#"hookgate_hooks_total{{tenant="guarded",method="{method}",verdict="{verdict}",fallback=""}}"#
        ))
    };
    assert_eq!((hooks("publishStream", "allow"), hooks("publishStream", "deny")), ("3", "1"), "{text}");
    assert_eq!(hooks("other", "allow"), "1", "{text}");
    assert_eq!(series(r#"hookgate_hook_duration_seconds_count{tenant="guarded"}"#), "5", "{text}");
    assert_eq!(series(r#"hookgate_evaluation_duration_seconds_count{tenant="guarded",policy="guard"}"#), "4", "{text}");
}

#[tokio::test]
async fn every_cell_of_the_fallback_table() {
    let (router, _tree) = router().await;
    let failures = [
        ("trap", "policy 'bad': policy trapped: wasm trap: wasm `unreachable` instruction executed"),
        ("spin", "policy 'bad': policy exceeded its deadline of 20 ms"),
    ];
    // (method, payload, kind) → the answer for FAIL and for LOG; None = 200 echo.
    let kinds = [
        ("connect", "connect.json", Some(403), Some(403)),
        ("publishStream", "publishStream.json", Some(403), None),
        ("StreamStatusEvent", "StreamStatusEvent.json", Some(500), None),
        ("OnCallEvent", "OnCallEvent.json", Some(403), None),
    ];
    let mut cells = 0;
    for (mode, message) in failures {
        for (method, file, fail, log) in kinds {
            for (on_error, expected) in [("FAIL", fail), ("LOG", log)] {
                let mut sent = payload(file);
                sent["appKey"] = json!(format!("{mode}-{on_error}"));
                let (status, body) = hook(&router, method, &sent).await;
                let context = format!("{mode} × {method} × {on_error}: {}", String::from_utf8_lossy(&body));
                match expected {
                    Some(code) => {
                        assert_eq!(status.as_u16(), code, "{context}");
                        assert_eq!(json_of(&body), json!({"error": message, "policy": "bad"}), "{context}");
                    }
                    None => {
                        assert_eq!(status, StatusCode::OK, "{context}");
                        assert_eq!(body, serde_json::to_vec(&sent).unwrap(), "{context}");
                    }
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 16);
}
