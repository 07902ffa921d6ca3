//! Hook authentication and what a refused hook may not do (issue 13): `hookgate.toml`'s
//! `[auth]` covers every appKey (named tenants, `_default`, unrouted ones) before routing; a
//! hook that fails it, or its tenant's `[auth]`, is answered 401/403 and has no effect at all
//! (no event, no state change, no session end); serving hooks beyond loopback needs
//! authentication or an explicit opt-out.

use crate::capabilities::{QUOTA, publish};
use crate::common::{Server, Tree, hookgate_bin};
use crate::events::{Socket, next_json, nothing_within, token};
use futures_util::SinkExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The HMAC key of the tests' `[auth]`.
const KEY: &[u8] = b"1234567890";

/// `Authorization: WCS <hex HMAC-MD5(body)>` with `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(key).unwrap();
    mac.update(body);
    format!("WCS {}", hex::encode(mac.finalize().into_bytes()))
}

/// Writes `hookgate.toml` beside the tree: the event service (user `alice` sees `app_keys`)
/// and `extra` (e.g. an `[auth]` table; `wcs.key` beside it holds [`KEY`]).
pub fn config(tree: &Tree, app_keys: &[&str], extra: &str) -> PathBuf {
    let dir = tree.path().join("..");
    std::fs::write(dir.join("hs.key"), b"events-test-key-0123456789abcdef-and-more").unwrap();
    std::fs::write(dir.join("wcs.key"), [KEY, b"\n"].concat()).unwrap();
    let users = format!("[users.alice]\napp_keys = {}\n", serde_json::to_string(app_keys).unwrap());
    std::fs::write(dir.join("users.toml"), users).unwrap();
    let config = format!(
        r#"{extra}
[webSocketEvents]
issuer = "hookgate-test"
keys = [{{ algorithm = "HS256", file = "hs.key" }}]
users = "users.toml"
"#
    );
    std::fs::write(dir.join("hookgate.toml"), config).unwrap();
    dir.join("hookgate.toml")
}

/// Starts the server with `config`, the admin listener and the event service.
fn start(tree: &Tree, config: &std::path::Path) -> Server {
    Server::start(
        tree,
        &["--config", config.to_str().unwrap(), "--admin-listen", "127.0.0.1:0", "--events-listen", "127.0.0.1:0"],
    )
}

/// A WebSocket client of `server`'s event service attached to each `(type, id)`.
async fn subscriber(server: &Server, events: &[(&str, &str)]) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(server.events.clone().unwrap()).await.unwrap();
    for (event_type, id) in events {
        let attach = json!({"auth": token("alice"), "action": "attach", "event": {"type": event_type, "id": id}});
        socket.send(Message::text(attach.to_string())).await.unwrap();
        assert_eq!(next_json(&mut socket).await, json!({"status": 200, "message": "Ok", "code": 0}));
    }
    socket
}

/// POSTs `body` to `/rest/<method>` with `authorization`: (status, JSON body).
async fn post(server: &Server, method: &str, body: &Value, authorization: Option<&str>) -> (u16, Value) {
    let bytes = body.to_string().into_bytes();
    let answer = server.post(&format!("/rest/{method}"), &bytes, Some("application/json"), authorization).await;
    let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    (answer.status, json)
}

/// The value of the `/metrics` line that starts with `series` (0 if absent).
async fn metric(server: &Server, series: &str) -> u64 {
    let (_, text) = server.admin_get("/metrics").await;
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

const MISSING: &str = "missing WCS signature (Authorization: WCS <hmac>)";
const WRONG: &str = "WCS 00000000000000000000000000000000";

/// Posts the forged hooks of `app_key` (a session end, a stream event, a publish) unsigned and
/// wrongly signed, and checks each answer: 401 then 403, with the exact reason.
async fn forge(server: &Server, app_key: &str) {
    let hooks = [
        ("ConnectionStatusEvent", json!({"appKey": app_key, "sessionId": "s1", "status": "DISCONNECTED"})),
        ("StreamStatusEvent", json!({"appKey": app_key, "sessionId": "s1", "name": "cam1", "status": "PUBLISHING"})),
        ("publishStream", serde_json::from_slice(&publish("s3", "c", 3)).unwrap()),
    ];
    for (method, mut body) in hooks {
        body["appKey"] = json!(app_key);
        assert_eq!(post(server, method, &body, None).await, (401, json!({"error": MISSING})), "{app_key} {method}");
        assert_eq!(
            post(server, method, &body, Some(WRONG)).await,
            (403, json!({"error": "invalid WCS signature"})),
            "{app_key} {method}"
        );
        let basic = "Basic d2NzOnNlY3JldA==";
        assert_eq!(post(server, method, &body, Some(basic)).await, (401, json!({"error": MISSING})));
    }
}

#[tokio::test]
async fn server_auth_refuses_unsigned_hooks_for_every_appkey_before_routing_with_no_effect() {
    let tree = Tree::new();
    tree.tenant("rooms", QUOTA, &[("quota.wasm", "rust/publisher-quota")]);
    tree.tenant("_default", "version = 1\n", &[]);
    let config = config(&tree, &["rooms", "stranger"], "[auth]\nhmac_key_file = \"wcs.key\"\n");
    let server = start(&tree, &config);
    let mut socket = subscriber(&server, &[("ConnectionStatusEvent", "s1"), ("StreamStatusEvent", "cam1")]).await;

    // Signed: two publishers fill rooms' quota.
    for (session, name, attempt) in [("s1", "a", 1), ("s2", "b", 2)] {
        let body = publish(session, name, attempt);
        let answer =
            server.post("/rest/publishStream", &body, Some("application/json"), Some(&signature(KEY, &body))).await;
        assert_eq!((answer.status, &answer.body), (200, &body));
    }

    // Unsigned or wrongly signed, for the named tenant and for an appKey `_default` serves.
    forge(&server, "rooms").await;
    forge(&server, "stranger").await;

    // Nothing happened: no event reached the subscriber, the forged DISCONNECTED freed no slot.
    nothing_within(&mut socket, Duration::from_millis(300)).await;
    let third = publish("s3", "c", 4);
    let answer =
        server.post("/rest/publishStream", &third, Some("application/json"), Some(&signature(KEY, &third))).await;
    assert_eq!(
        (answer.status, answer.json()),
        (403, json!({"error": "publisher quota reached: 2 of 2 publishers", "policy": "quota"})),
        "rooms' state is unchanged"
    );
    // The same hook signed is published: the subscription was live all along.
    let event = json!({"appKey": "stranger", "sessionId": "s1", "name": "cam1", "status": "PUBLISHING"});
    let signed = signature(KEY, event.to_string().as_bytes());
    assert_eq!(post(&server, "StreamStatusEvent", &event, Some(&signed)).await.0, 200);
    assert_eq!(next_json(&mut socket).await["data"]["status"], "PUBLISHING");

    // Counted as their own outcome, before any tenant: 2 appKeys × 3 answers per method.
    for method in ["ConnectionStatusEvent", "StreamStatusEvent", "publishStream"] {
        let series =
            format!(r#"hookgate_hooks_total{{tenant="none",method="{method}",verdict="unauthenticated",fallback=""}}"#);
        assert_eq!(metric(&server, &series).await, 6, "{series}");
    }
    let denied = r#"hookgate_hooks_total{tenant="none",method="publishStream",verdict="deny",fallback=""}"#;
    assert_eq!(metric(&server, denied).await, 0, "not counted as deny");
}

#[tokio::test]
async fn server_auth_covers_unrouted_appkeys_and_unrouted_hooks_publish_nothing() {
    let tree = Tree::new();
    tree.tenant("rooms", "version = 1\n", &[]);
    let config = config(&tree, &["rooms", "nobody"], "[auth]\nhmac_key_file = \"wcs.key\"\n");
    let server = start(&tree, &config);
    let mut socket = subscriber(&server, &[("StreamStatusEvent", "cam1")]).await;

    let event = json!({"appKey": "nobody", "sessionId": "s1", "name": "cam1", "status": "PUBLISHING"});
    assert_eq!(post(&server, "StreamStatusEvent", &event, None).await, (401, json!({"error": MISSING})));
    assert_eq!(
        post(&server, "StreamStatusEvent", &event, Some(WRONG)).await,
        (403, json!({"error": "invalid WCS signature"}))
    );
    // Signed but unrouted (no folder, no _default): echoed as before, and still not published.
    let signed = signature(KEY, event.to_string().as_bytes());
    assert_eq!(post(&server, "StreamStatusEvent", &event, Some(&signed)).await, (200, event.clone()));
    let publish_body = json!({"appKey": "nobody", "sessionId": "s1", "name": "cam1", "published": true});
    assert_eq!(
        post(&server, "publishStream", &publish_body, Some(&signature(KEY, publish_body.to_string().as_bytes()))).await,
        (403, json!({"error": "no policy tree for appKey 'nobody' and no _default tenant"}))
    );
    nothing_within(&mut socket, Duration::from_millis(300)).await;
    let series =
        r#"hookgate_hooks_total{tenant="none",method="StreamStatusEvent",verdict="unauthenticated",fallback=""}"#;
    assert_eq!(metric(&server, series).await, 2);
}

#[tokio::test]
async fn a_hook_failing_its_tenants_auth_publishes_nothing() {
    let tree = Tree::new();
    tree.tenant("rooms", "version = 1\n[auth]\nhmac_key_file = \"wcs.key\"\n", &[]).file("rooms/wcs.key", KEY);
    let config = config(&tree, &["rooms"], "");
    let server = start(&tree, &config);
    let mut socket = subscriber(&server, &[("StreamStatusEvent", "cam1")]).await;

    let event = json!({"appKey": "rooms", "sessionId": "s1", "name": "cam1", "status": "PUBLISHING"});
    assert_eq!(post(&server, "StreamStatusEvent", &event, None).await, (401, json!({"error": MISSING})));
    assert_eq!(
        post(&server, "StreamStatusEvent", &event, Some(WRONG)).await,
        (403, json!({"error": "invalid WCS signature"}))
    );
    nothing_within(&mut socket, Duration::from_millis(300)).await;
    let series =
        r#"hookgate_hooks_total{tenant="rooms",method="StreamStatusEvent",verdict="unauthenticated",fallback=""}"#;
    assert_eq!(metric(&server, series).await, 2);

    let signed = signature(KEY, event.to_string().as_bytes());
    assert_eq!(post(&server, "StreamStatusEvent", &event, Some(&signed)).await, (200, event));
    assert_eq!(next_json(&mut socket).await["data"]["status"], "PUBLISHING");
}

/// Runs `hookgate serve` with `args` until it prints its first stdout line or exits: (that
/// line, the exit status if it exited, stderr if it exited).
fn serve(args: &[&str]) -> (String, Option<std::process::ExitStatus>, String) {
    let mut child = Command::new(hookgate_bin())
        .arg("serve")
        .args(args)
        .env("HOOKGATE_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    if line.is_empty() {
        let output = child.wait_with_output().unwrap();
        return (line, Some(output.status), String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let _ = child.kill();
    let _ = child.wait();
    (line, None, String::new())
}

#[test]
fn serve_beyond_loopback_without_hook_auth_refuses_to_start_unless_allowed() {
    let tree = Tree::new();
    tree.tenant("rooms", "version = 1\n", &[]);
    let policies = tree.path();
    let policies = policies.to_str().unwrap();
    let (line, status, stderr) = serve(&["--listen", "0.0.0.0:0", "--policies", policies]);
    assert_eq!((line.as_str(), status.and_then(|s| s.code())), ("", Some(2)), "{stderr}");
    assert!(
        stderr.contains(
            "refusing to serve hooks on 0.0.0.0:0 without authentication: anyone who can reach that address could \
             send forged hooks"
        ) && stderr.contains("allow_unauthenticated_hooks = true"),
        "{stderr}"
    );

    let dir = tree.path().join("..");
    std::fs::write(dir.join("open.toml"), "allow_unauthenticated_hooks = true\n").unwrap();
    let open = dir.join("open.toml");
    let (line, status, _) =
        serve(&["--listen", "0.0.0.0:0", "--policies", policies, "--config", open.to_str().unwrap()]);
    assert!(line.starts_with("hookgate listening: hooks=http://0.0.0.0:"), "{line} {status:?}");

    std::fs::write(dir.join("wcs.key"), "k\n").unwrap();
    std::fs::write(dir.join("auth.toml"), "[auth]\nhmac_key_file = \"wcs.key\"\n").unwrap();
    let auth = dir.join("auth.toml");
    let (line, status, _) =
        serve(&["--listen", "0.0.0.0:0", "--policies", policies, "--config", auth.to_str().unwrap()]);
    assert!(line.starts_with("hookgate listening: hooks=http://0.0.0.0:"), "{line} {status:?}");

    // Loopback needs neither.
    let (line, status, _) = serve(&["--listen", "127.0.0.1:0", "--policies", policies]);
    assert!(line.starts_with("hookgate listening: hooks=http://127.0.0.1:"), "{line} {status:?}");
}

#[tokio::test]
async fn a_rest_api_matcher_never_applies_to_connect() {
    let tree = Tree::new();
    let manifest = r#"
version = 1
[[rest_api_initiated]]
field = "sessionId"
equals = "rest-session"
[policies.token-auth]
module = "token_auth.wasm"
settings = { scheme = "any" }
settings_from_file = { secret = "token.secret" }
[methods.connect]
chain = ["token-auth"]
on_error = "FAIL"
[methods.publishStream]
chain = ["token-auth"]
on_error = "FAIL"
"#;
    tree.tenant("rooms", manifest, &[("token_auth.wasm", "rust/token-auth")]).file("rooms/token.secret", b"secret\n");
    let server = Server::start(&tree, &[]);
    let body = json!({"appKey": "rooms", "sessionId": "rest-session", "nodeId": "n1"});
    let answer = server.hook("connect", body.to_string().as_bytes()).await;
    assert_eq!((answer.status, answer.json()), (403, json!({"error": "missing token", "policy": "token-auth"})));
    // Other methods still honour the matcher: the denial is not obeyed.
    let answer = server.hook("publishStream", body.to_string().as_bytes()).await;
    assert_eq!((answer.status, answer.json()), (200, body));
}

#[tokio::test]
async fn a_body_that_does_not_fit_its_method_has_no_side_effects() {
    let tree = Tree::new();
    tree.tenant("rooms", QUOTA, &[("quota.wasm", "rust/publisher-quota")]);
    let config = config(&tree, &["rooms"], "[auth]\nhmac_key_file = \"wcs.key\"\n");
    let server = start(&tree, &config);
    let mut socket = subscriber(&server, &[("ConnectionStatusEvent", "s1")]).await;
    let signed = async |method: &str, body: &Value| {
        post(&server, method, body, Some(&signature(KEY, body.to_string().as_bytes()))).await
    };
    for (session, name, attempt) in [("s1", "a", 1), ("s2", "b", 2)] {
        let body: Value = serde_json::from_slice(&publish(session, name, attempt)).unwrap();
        assert_eq!(signed("publishStream", &body).await.0, 200);
    }

    // A signed StreamStatusEvent of s1's stream (WCS's signature covers only the body) replayed
    // at /ConnectionStatusEvent: echoed, no chain, no session end, nothing published.
    let failed = json!({"appKey": "rooms", "nodeId": "n1", "sessionId": "s1", "mediaSessionId": "m-s1-a-1",
                        "name": "a", "published": true, "status": "FAILED"});
    assert_eq!(signed("ConnectionStatusEvent", &failed).await, (200, failed.clone()));
    // At /publishStream (or /playStream): refused before any chain.
    for method in ["publishStream", "playStream"] {
        let expected = format!(
            "body does not fit method {method}: status FAILED ends a stream (a StreamStatusEvent's), a direct \
             invocation carries PENDING"
        );
        assert_eq!(signed(method, &failed).await, (400, json!({"error": expected})));
    }
    // A ConnectionStatusEvent without a session: echoed, no effect.
    let sessionless = json!({"appKey": "rooms", "status": "DISCONNECTED"});
    assert_eq!(signed("ConnectionStatusEvent", &sessionless).await, (200, sessionless));
    nothing_within(&mut socket, Duration::from_millis(300)).await;
    let third: Value = serde_json::from_slice(&publish("s3", "c", 3)).unwrap();
    assert_eq!(
        signed("publishStream", &third).await,
        (403, json!({"error": "publisher quota reached: 2 of 2 publishers", "policy": "quota"})),
        "s1 still holds its slot"
    );
    let series =
        r#"hookgate_hooks_total{tenant="rooms",method="ConnectionStatusEvent",verdict="mismatch",fallback=""}"#;
    assert_eq!(metric(&server, series).await, 2);
    let series = r#"hookgate_hooks_total{tenant="rooms",method="publishStream",verdict="mismatch",fallback=""}"#;
    assert_eq!(metric(&server, series).await, 1);

    // The real end of s1: published, its slot released.
    let gone = json!({"appKey": "rooms", "nodeId": "n1", "sessionId": "s1", "status": "DISCONNECTED"});
    assert_eq!(signed("ConnectionStatusEvent", &gone).await, (200, gone));
    assert_eq!(next_json(&mut socket).await["data"]["status"], "DISCONNECTED");
    let fourth: Value = serde_json::from_slice(&publish("s3", "c", 4)).unwrap();
    assert_eq!(signed("publishStream", &fourth).await.0, 200);
}

const CHAT: &str = r#"
version = 1
[policies.chat]
module = "chat.wasm"
capabilities = ["state", "send-data", "notify"]
[methods.OnDataEvent]
chain = ["chat"]
on_error = "LOG"
"#;

#[tokio::test]
async fn send_data_reaches_only_sessions_that_connected_under_the_same_tenant() {
    let (url, received) = crate::events::wcs().await;
    let tree = Tree::new();
    tree.tenant("alpha", CHAT, &[("chat.wasm", "rust/chat-relay")]);
    tree.tenant("beta", CHAT, &[("chat.wasm", "rust/chat-relay")]);
    let config = config(&tree, &["alpha"], &format!("[send_data]\nurl = \"{url}\"\n"));
    let server = start(&tree, &config);
    let hook = async |method: &str, body: Value| server.hook(method, body.to_string().as_bytes()).await.status;

    // a1 connects under alpha, b1 under beta; a2 is reported ESTABLISHED under alpha.
    assert_eq!(hook("connect", json!({"appKey": "alpha", "nodeId": "n1", "sessionId": "a1"})).await, 200);
    assert_eq!(hook("connect", json!({"appKey": "beta", "nodeId": "n1", "sessionId": "b1"})).await, 200);
    let established = json!({"appKey": "alpha", "nodeId": "n1", "sessionId": "a2", "status": "ESTABLISHED"});
    assert_eq!(hook("ConnectionStatusEvent", established).await, 200);

    // alpha's room holds b1 (alpha's policy learnt beta's session id) and a1, a2.
    let say = |session: &str, text: &str| {
        json!({"appKey": "alpha", "nodeId": "n1", "sessionId": session, "operationId": format!("op-{text}"),
               "payload": {"room": "lobby", "text": text}})
    };
    assert_eq!(hook("OnDataEvent", say("b1", "join")).await, 200);
    assert_eq!(hook("OnDataEvent", say("a1", "hello")).await, 200);
    assert_eq!(hook("OnDataEvent", say("a2", "hi")).await, 200);

    // Delivered: a2's "hi" to a1. Not delivered: anything to b1 ("hello" and "hi").
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while received.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls: Vec<_> = received
        .lock()
        .unwrap()
        .iter()
        .map(|call| (call["sessionId"].clone(), call["payload"]["text"].clone()))
        .collect();
    assert_eq!(calls, [(json!("a1"), json!("hi"))]);
    assert_eq!(metric(&server, "hookgate_send_data_foreign_session_total").await, 2);
    assert_eq!(metric(&server, "hookgate_send_data_queued_total").await, 1);
}

#[tokio::test]
async fn a_policys_huge_error_or_settings_refusal_is_cut_before_any_answer_or_log() {
    let tree = Tree::new();
    // A generous deadline: building 8 MiB in the guest must not time out on a busy machine.
    let manifest = r#"
version = 1
[limits]
timeout_ms = 5000
[policies.bad]
module = "faulty.wasm"
settings = { mode = "huge-error", mb = 8 }
[policies.picky]
module = "faulty.wasm"
settings = { mode = "reject-settings", mb = 8 }
[methods.publishStream]
chain = ["bad"]
on_error = "FAIL"
[methods.playStream]
chain = ["picky"]
on_error = "FAIL"
"#;
    tree.tenant("rooms", manifest, &[("faulty.wasm", "fixtures/faulty")]);
    let log = tree.path().join("../decisions.jsonl");
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0", "--decision-log", log.to_str().unwrap()]);
    let marker = "… (truncated, 8388608 bytes)";

    let body = json!({"appKey": "rooms", "sessionId": "s1", "name": "cam", "published": true, "status": "PENDING"});
    let answer = server.hook("publishStream", body.to_string().as_bytes()).await;
    let expected = format!("policy 'bad': policy returned an error: {}{marker}", "e".repeat(1024));
    assert_eq!((answer.status, answer.json()), (403, json!({"error": expected, "policy": "bad"})));
    assert!(answer.body.len() < 2048, "{} bytes", answer.body.len());

    let answer = server.hook("playStream", body.to_string().as_bytes()).await;
    assert_eq!(answer.status, 403);
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(error.starts_with("policy 'picky' is not loaded: ") && error.ends_with(marker), "{error}");
    assert!(answer.body.len() < 2048, "{} bytes", answer.body.len());
    let (_, policies) = server.admin_get("/api/policies").await;
    assert!(policies.len() < 8192 && policies.contains(marker), "{} bytes", policies.len());

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 2 || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(text.lines().count(), 2, "{text}");
    for line in text.lines() {
        assert!(line.len() < 4096, "a decision-log line of {} bytes", line.len());
        assert!(line.contains(marker), "{line}");
    }
}
