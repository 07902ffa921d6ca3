//! The WebSocket event service and the after-answer effects through a running server: hook
//! events and policy notifications reach attached front ends, and chat-relay's `send-data`
//! messages reach a stand-in for the WCS REST API without ever slowing hooks down.

use crate::common::{Server, Tree};
use axum::extract::State;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ROOMS: &str = r#"
version = 1
[policies.chat]
module = "chat.wasm"
capabilities = ["state", "send-data", "notify"]
[methods.OnDataEvent]
chain = ["chat"]
on_error = "LOG"
[methods.StreamStatusEvent]
chain = []
"#;

/// A stand-in for the WCS REST API: records `/rest-api/data/send` bodies; node "slow" answers
/// after 3 s.
pub async fn wcs() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    async fn send(State(received): State<Arc<Mutex<Vec<Value>>>>, body: axum::Json<Value>) -> &'static str {
        if body["nodeId"] == "slow" {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        received.lock().unwrap().push(body.0);
        "{}"
    }
    let app = axum::Router::new().route("/rest-api/data/send", axum::routing::post(send)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// Writes `hookgate.toml` beside the tree: the event service (HS256 key, user `alice` of appKey
/// `rooms`) and `extra` tables. Returns its path.
pub fn events_config(tree: &Tree, extra: &str) -> std::path::PathBuf {
    let dir = tree.path().join("..");
    std::fs::write(dir.join("hs.key"), b"events-test-key-0123456789abcdef-and-more").unwrap();
    std::fs::write(dir.join("users.toml"), "[users.alice]\napp_keys = [\"rooms\"]\n").unwrap();
    let config = format!(
        r#"
[webSocketEvents]
issuer = "hookgate-test"
keys = [{{ algorithm = "HS256", file = "hs.key" }}]
users = "users.toml"
{extra}"#
    );
    std::fs::write(dir.join("hookgate.toml"), config).unwrap();
    dir.join("hookgate.toml")
}

/// A token of `user` signed with the key of [`events_config`].
pub fn token(user: &str) -> String {
    let claims = json!({"iss": "hookgate-test", "exp": 4102444800u64, "data": {"id": user}});
    let key = jsonwebtoken::EncodingKey::from_secret(b"events-test-key-0123456789abcdef-and-more");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap()
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, as JSON (within 5 s).
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Fails if a text message arrives within `wait`.
pub async fn nothing_within(socket: &mut Socket, wait: Duration) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(wait, socket.next()).await {
        panic!("unexpected message: {text}");
    }
}

#[tokio::test]
async fn hook_events_notifications_and_send_data_go_out_after_the_answer() {
    let (url, received) = wcs().await;
    let tree = Tree::new();
    tree.tenant("rooms", ROOMS, &[("chat.wasm", "rust/chat-relay")]);
    tree.tenant("other", "version = 1\n[methods.StreamStatusEvent]\nchain = []\n", &[]);
    let send_data = format!(
        r#"
[send_data]
url = "{url}"
nodes = {{ dead = "http://127.0.0.1:9" }}
[send_data.outbox]
timeout_ms = 500
"#
    );
    let config = events_config(&tree, &send_data);
    let server = Server::start(
        &tree,
        &["--config", config.to_str().unwrap(), "--admin-listen", "127.0.0.1:0", "--events-listen", "127.0.0.1:0"],
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(server.events.clone().unwrap()).await.unwrap();

    // The documented attach; then one StreamStatusEvent of that stream is delivered once.
    let attach = |event: Value| json!({"auth": token("alice"), "action": "attach", "event": event}).to_string();
    socket.send(Message::text(attach(json!({"type": "StreamStatusEvent", "id": "cam1"})))).await.unwrap();
    assert_eq!(next_json(&mut socket).await, json!({"status": 200, "message": "Ok", "code": 0}));
    let event = json!({"appKey": "rooms", "sessionId": "s1", "name": "cam1", "status": "PUBLISHING",
                       "custom": {"token": "hunter2"}});
    assert_eq!(server.hook("StreamStatusEvent", event.to_string().as_bytes()).await.status, 200);
    let other = json!({"appKey": "other", "name": "cam1", "status": "PUBLISHING"});
    assert_eq!(server.hook("StreamStatusEvent", other.to_string().as_bytes()).await.status, 200);
    let unwatched = json!({"appKey": "rooms", "name": "cam2", "status": "PUBLISHING"});
    server.hook("StreamStatusEvent", unwatched.to_string().as_bytes()).await;
    let delivered = next_json(&mut socket).await;
    assert_eq!((&delivered["type"], &delivered["id"]), (&json!("StreamStatusEvent"), &json!("cam1")));
    assert_eq!(delivered["data"]["status"], "PUBLISHING");
    assert_eq!(delivered["data"]["custom"]["token"], "***", "secrets are masked");
    nothing_within(&mut socket, Duration::from_millis(300)).await;

    // chat-relay: s2's message reaches s1 through /rest-api/data/send, and watchers of the room
    // (s1 connected under rooms: send-data reaches only the tenant's own sessions).
    let connect = json!({"appKey": "rooms", "nodeId": "n1", "sessionId": "s1"});
    assert_eq!(server.hook("connect", connect.to_string().as_bytes()).await.status, 200);
    socket.send(Message::text(attach(json!({"type": "chat", "id": "lobby"})))).await.unwrap();
    assert_eq!(next_json(&mut socket).await["code"], 0);
    let say = |session: &str, node: &str, text: &str| {
        json!({"appKey": "rooms", "nodeId": node, "sessionId": session, "operationId": format!("op-{text}"),
               "payload": {"room": "lobby", "text": text}})
        .to_string()
    };
    assert_eq!(server.hook("OnDataEvent", say("s1", "n1", "hi").as_bytes()).await.status, 200);
    assert_eq!(server.hook("OnDataEvent", say("s2", "n1", "hello").as_bytes()).await.status, 200);
    for expected in ["hi", "hello"] {
        let chat = next_json(&mut socket).await;
        assert_eq!(
            (&chat["type"], &chat["id"], &chat["data"]["payload"]["text"]),
            (&json!("chat"), &json!("lobby"), &json!(expected))
        );
    }
    let started = Instant::now();
    while received.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = received.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (&calls[0]["nodeId"], &calls[0]["sessionId"], &calls[0]["payload"]),
        (&json!("n1"), &json!("s1"), &json!({"room": "lobby", "text": "hello"}))
    );
    assert!(calls[0]["operationId"].as_str().is_some_and(|id| id.len() == 36), "a UUID operationId");

    // A WCS node that is down or slow never slows a hook down.
    for node in ["dead", "slow"] {
        for n in 0..20 {
            let started = Instant::now();
            let answer =
                server.hook("OnDataEvent", say(&format!("{node}{n}"), node, &format!("{node}-{n}")).as_bytes()).await;
            assert_eq!(answer.status, 200);
            assert!(started.elapsed() < Duration::from_millis(250), "{node}: hook took {:?}", started.elapsed());
        }
    }

    // The hub's and the outbox's counters are on /metrics.
    let (status, metrics) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    let value = |name: &str| -> u64 {
        let line = metrics.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' '));
        line.unwrap_or_else(|| panic!("{name} not in /metrics:\n{metrics}")).parse().unwrap()
    };
    assert_eq!((value("hookgate_events_connections"), value("hookgate_events_subscriptions")), (1, 2));
    assert!(value("hookgate_events_delivered_total") >= 3);
    assert!(value("hookgate_send_data_queued_total") >= value("hookgate_send_data_sent_total"));
    assert!(value("hookgate_send_data_sent_total") >= 1);
}
