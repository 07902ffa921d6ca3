use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookgate_outbox::{DataMessage, Outbox, OutboxConfig, OutboxStats, Target};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How the fake WCS answers one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    /// Answer at once with this status.
    Status(u16),
    /// Answer 200 after this long.
    Sleep(Duration),
    /// Answer 200 when the test calls [`FakeWcs::release`]; never, if it does not.
    Hold,
}

/// One request as WCS saw it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) peer: SocketAddr,
}

struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Reply,
    gate: Semaphore,
}

/// A WCS node serving `/rest-api/data/send`: it answers the scripted replies in order, then
/// `otherwise` for every further request.
pub(crate) struct FakeWcs {
    pub(crate) base_url: String,
    shared: Arc<Shared>,
}

impl FakeWcs {
    pub(crate) async fn start(script: &[Reply], otherwise: Reply) -> FakeWcs {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            script: Mutex::new(script.iter().copied().collect()),
            otherwise,
            gate: Semaphore::new(0),
        });
        let app = Router::new().route("/rest-api/data/send", post(data_send)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .expect("fake WCS serves")
        });
        FakeWcs { base_url: format!("http://{addr}"), shared }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Lets `n` held requests answer.
    pub(crate) fn release(&self, n: usize) {
        self.shared.gate.add_permits(n);
    }
}

async fn data_send(
    State(wcs): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    wcs.received.lock().unwrap().push(Received { headers, body, peer });
    let reply = wcs.script.lock().unwrap().pop_front().unwrap_or(wcs.otherwise);
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).expect("a valid status"),
        Reply::Sleep(duration) => {
            tokio::time::sleep(duration).await;
            StatusCode::OK
        }
        Reply::Hold => {
            wcs.gate.acquire().await.expect("the gate is never closed").forget();
            StatusCode::OK
        }
    }
}

/// A base URL where nothing listens: a port bound, read and released.
pub(crate) fn refusing_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}

/// Defaults, with a short timeout and short backoff so that failing tests end quickly.
pub(crate) fn fast_config() -> OutboxConfig {
    OutboxConfig { timeout_ms: 200, backoff_initial_ms: 10, backoff_max_ms: 20, ..OutboxConfig::default() }
}

pub(crate) fn target(base_url: &str) -> Target {
    Target { base_url: base_url.to_owned(), basic: None }
}

pub(crate) fn message(n: usize) -> DataMessage {
    DataMessage {
        node_id: "Hw47CFMBEchV0pBMDr29IxjudnJ1sj0Y@192.168.1.101".into(),
        session_id: format!("/192.168.1.102:{n}/192.168.1.101:8443"),
        operation_id: format!("op-{n}"),
        payload: serde_json::json!({"n": n}),
    }
}

/// Waits until `done` holds for the counters (at most 10 s) and returns them.
pub(crate) async fn wait_for(outbox: &Outbox, done: impl Fn(&OutboxStats) -> bool) -> OutboxStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = outbox.stats();
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "timed out waiting; counters: {stats:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every accepted message is accounted for once.
pub(crate) fn settled(stats: &OutboxStats) -> bool {
    stats.sent + stats.failed == stats.queued
}
