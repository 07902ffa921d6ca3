//! A server on a loopback port with generated keys, and a client that speaks the protocol.

use futures_util::{SinkExt, StreamExt};
use hookgate_events::{EventHub, EventsConfig, EventsLimits, KeyAlgorithm, KeyConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const ISSUER: &str = "dev.airlay.ru";
/// The user of the WCS document's example token.
pub(crate) const ALICE: &str = "5dad615eae019570fb4647ed";
pub(crate) const BOB: &str = "bob";
/// How long a test waits for something that should happen.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Key pairs generated once per test run (RSA key generation takes a moment).
pub(crate) struct Keys {
    pub(crate) rsa_private: String,
    pub(crate) rsa_public: String,
    pub(crate) ec_private: String,
    pub(crate) ec_public: String,
    pub(crate) hs_secret: Vec<u8>,
}

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        let mut rng = rand::thread_rng();
        let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key");
        let ec = p256::SecretKey::random(&mut rng);
        Keys {
            rsa_private: rsa.to_pkcs8_pem(LineEnding::LF).expect("RSA PEM").to_string(),
            rsa_public: rsa::RsaPublicKey::from(&rsa).to_public_key_pem(LineEnding::LF).expect("RSA public PEM"),
            ec_private: ec.to_pkcs8_pem(LineEnding::LF).expect("EC PEM").to_string(),
            ec_public: ec.public_key().to_public_key_pem(LineEnding::LF).expect("EC public PEM"),
            hs_secret: (0..48u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect(),
        }
    })
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// Signs claims with the generated key of `algorithm`.
pub(crate) fn sign(algorithm: Algorithm, claims: &Value) -> String {
    let keys = keys();
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(keys.rsa_private.as_bytes()).expect("RSA key"),
        Algorithm::ES256 => EncodingKey::from_ec_pem(keys.ec_private.as_bytes()).expect("EC key"),
        Algorithm::HS256 => EncodingKey::from_secret(&keys.hs_secret),
        other => panic!("no test key for {other:?}"),
    };
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).expect("sign")
}

/// A token shaped like the WCS document's: `data.id` names the user.
pub(crate) fn token_for(user: &str, lifetime_secs: i64) -> String {
    let exp = now() as i64 + lifetime_secs;
    sign(Algorithm::RS256, &json!({"iat": now(), "iss": ISSUER, "exp": exp, "data": {"name": "test", "id": user}}))
}

pub(crate) fn attach(token: &str, event_type: &str, id: Option<&str>) -> Value {
    request("attach", token, event_type, id)
}

pub(crate) fn request(action: &str, token: &str, event_type: &str, id: Option<&str>) -> Value {
    let mut event = json!({"type": event_type});
    if let Some(id) = id {
        event["id"] = json!(id);
    }
    json!({"auth": token, "action": action, "event": event})
}

pub(crate) fn ok() -> Value {
    json!({"status": 200, "message": "Ok", "code": 0})
}

pub(crate) fn refused(code: u16, message: &str) -> Value {
    json!({"status": 400, "message": message, "code": code})
}

/// A running event service.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) hub: EventHub,
    pub(crate) users_path: PathBuf,
    /// The folder of the key files (`rs256.pub.pem`, `es256.pub.pem`, `hs256.key`) and users.
    pub(crate) dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Alice may watch `app1` and `app2`; Bob `app1` only, and only stream events.
pub(crate) const USERS: &str = r#"
[users."5dad615eae019570fb4647ed"]
app_keys = ["app1", "app2"]
[users.bob]
app_keys = ["app1"]
events = ["StreamStatusEvent"]
"#;

impl Server {
    pub(crate) async fn start() -> Server {
        Server::with_limits(EventsLimits::default()).await
    }

    pub(crate) async fn with_limits(limits: EventsLimits) -> Server {
        Server::with_config(|config| config.limits = limits).await
    }

    /// A server whose configuration (three kid-less keys, [`USERS`]) `adjust` changes first.
    pub(crate) async fn with_config(adjust: impl FnOnce(&mut EventsConfig)) -> Server {
        let keys = keys();
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write fixture");
            path
        };
        let key = |algorithm, file| KeyConfig { algorithm, file, kid: None };
        let keys = vec![
            key(KeyAlgorithm::RS256, write("rs256.pub.pem", keys.rsa_public.as_bytes())),
            key(KeyAlgorithm::ES256, write("es256.pub.pem", keys.ec_public.as_bytes())),
            key(KeyAlgorithm::HS256, write("hs256.key", &keys.hs_secret)),
        ];
        let users_path = write("users.toml", USERS.as_bytes());
        let mut config = EventsConfig::new(ISSUER, keys, &users_path);
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hub = EventHub::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = hub.clone();
        let task = tokio::spawn(async move {
            hookgate_events::serve(listener, &config, served, async {
                let _ = stopped.await;
            })
            .await
            .expect("the test configuration is valid");
        });
        Server { addr, hub, users_path, dir, stop: Some(stop), task: Some(task) }
    }

    pub(crate) async fn connect(&self) -> Client {
        let (client, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/ws", self.addr)).await.expect("WebSocket handshake");
        client
    }

    /// Stops the server and waits until `serve` has returned.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task).await.expect("serve returns after shutdown").expect("serve task");
        }
    }

    /// Waits until the hub's counters satisfy `ready`.
    pub(crate) async fn until(&self, what: &str, ready: impl Fn(hookgate_events::HubStats) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !ready(self.hub.stats()) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.hub.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// What a client reads next, pings and pongs skipped.
#[derive(Debug)]
pub(crate) enum Frame {
    Json(Value),
    Close(Option<CloseFrame>),
    Ended,
}

pub(crate) async fn next(client: &mut Client) -> Frame {
    loop {
        let frame = tokio::time::timeout(PATIENCE, client.next()).await.expect("a frame in time");
        return match frame {
            Some(Ok(Message::Text(text))) => Frame::Json(serde_json::from_str(&text).expect("JSON text frame")),
            Some(Ok(Message::Close(frame))) => Frame::Close(frame),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            None | Some(Err(_)) => Frame::Ended,
        };
    }
}

pub(crate) async fn next_json(client: &mut Client) -> Value {
    match next(client).await {
        Frame::Json(value) => value,
        other => panic!("expected a JSON message, got {other:?}"),
    }
}

/// Sends a request and reads its answer.
pub(crate) async fn ask(client: &mut Client, request: &Value) -> Value {
    send_text(client, &request.to_string()).await;
    next_json(client).await
}

pub(crate) async fn send_text(client: &mut Client, text: &str) {
    client.send(Message::Text(text.into())).await.expect("send");
}

/// Reads until the close frame, returning it with the JSON messages before it.
pub(crate) async fn until_close(client: &mut Client) -> (Vec<Value>, Option<CloseFrame>) {
    let mut messages = Vec::new();
    loop {
        match next(client).await {
            Frame::Json(value) => messages.push(value),
            Frame::Close(frame) => return (messages, frame),
            Frame::Ended => panic!("the connection ended without a close frame after {messages:?}"),
        }
    }
}
