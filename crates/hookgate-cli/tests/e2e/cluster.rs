//! A fleet: two `hookgate serve` processes sharing one real Redis (`[cluster] redis_url`).
//! The answer must not depend on which instance got the hook: quotas, retries and session ends
//! are fleet-wide, and a front end attached to one instance sees the events of the other. When
//! Redis goes away, hooks are still answered (the method's fallback), and everything works
//! again once it is back, without restarting hookgate.

use crate::capabilities::{QUOTA, publish};
use crate::common::{Server, Tree};
use crate::events::{Socket, events_config, next_json, nothing_within, token};
use futures_util::SinkExt;
use hookgate_testkit::RedisServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A tree with publisher-quota (2 publishers) for `rooms`, and `other` echoing its events.
fn fleet_tree() -> Tree {
    let tree = Tree::new();
    tree.tenant("rooms", QUOTA, &[("quota.wasm", "rust/publisher-quota")]);
    tree.tenant("other", "version = 1\n[methods.StreamStatusEvent]\nchain = []\n", &[]);
    tree
}

/// An instance of the fleet: hooks, admin and event listeners on free ports.
fn instance(tree: &Tree, config: &std::path::Path, redis: &RedisServer) -> Server {
    let url = redis.url();
    let config = config.to_str().unwrap();
    let flags =
        ["--config", config, "--redis-url", &url, "--admin-listen", "127.0.0.1:0", "--events-listen", "127.0.0.1:0"];
    Server::start(tree, &flags)
}

/// Connects to an instance's event service and attaches to `event` as alice (appKey rooms).
async fn subscribe(server: &Server, event: Value) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(server.events.clone().unwrap()).await.unwrap();
    let attach = json!({"auth": token("alice"), "action": "attach", "event": event}).to_string();
    socket.send(Message::text(attach)).await.unwrap();
    assert_eq!(next_json(&mut socket).await, json!({"status": 200, "message": "Ok", "code": 0}));
    socket
}

fn stream_status(app_key: &str, session: &str, name: &str, status: &str) -> Vec<u8> {
    json!({"appKey": app_key, "sessionId": session, "name": name, "published": true, "status": status})
        .to_string()
        .into_bytes()
}

fn disconnected(session: &str) -> Vec<u8> {
    json!({"appKey": "rooms", "sessionId": session, "status": "DISCONNECTED"}).to_string().into_bytes()
}

/// The value of an unlabelled metric line `name value`.
async fn metric(server: &Server, name: &str) -> Option<f64> {
    let (_, text) = server.admin_get("/metrics").await;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn two_instances_share_quotas_retries_session_ends_and_events() {
    let redis = RedisServer::start();
    let tree = fleet_tree();
    let config = events_config(&tree, "");
    let (a, b) = (instance(&tree, &config, &redis), instance(&tree, &config, &redis));

    // The quota of 2 holds across both instances, and a delivery retried once to A and once
    // to B counts once.
    assert_eq!(a.hook("publishStream", &publish("s1", "cam1", 1)).await.status, 200);
    assert_eq!(b.hook("publishStream", &publish("s1", "cam1", 1)).await.status, 200, "the retry to B");
    assert_eq!(b.hook("publishStream", &publish("s2", "cam2", 2)).await.status, 200, "the retry counted once");
    let refused = a.hook("publishStream", &publish("s3", "cam3", 3)).await;
    assert_eq!(
        (refused.status, refused.json()),
        (403, json!({"error": "publisher quota reached: 2 of 2 publishers", "policy": "quota"}))
    );
    // The end of s1, seen by B, frees the slot that s1 took through A.
    assert_eq!(b.hook("ConnectionStatusEvent", &disconnected("s1")).await.status, 200);
    assert_eq!(a.hook("publishStream", &publish("s3", "cam3", 4)).await.status, 200, "s1's slot was freed");
    assert_eq!(a.hook("publishStream", &publish("s4", "cam4", 5)).await.status, 403);

    // A StreamStatusEvent posted to A reaches the subscribers of both instances, once each;
    // another tenant's event of the same stream name reaches neither.
    let mut on_a = subscribe(&a, json!({"type": "StreamStatusEvent", "id": "cam2"})).await;
    let mut on_b = subscribe(&b, json!({"type": "StreamStatusEvent", "id": "cam2"})).await;
    assert_eq!(a.hook("StreamStatusEvent", &stream_status("other", "x", "cam2", "PUBLISHING")).await.status, 200);
    assert_eq!(a.hook("StreamStatusEvent", &stream_status("rooms", "s2", "cam2", "PUBLISHING")).await.status, 200);
    for socket in [&mut on_a, &mut on_b] {
        let event = next_json(socket).await;
        assert_eq!((&event["type"], &event["id"]), (&json!("StreamStatusEvent"), &json!("cam2")));
        assert_eq!((&event["data"]["appKey"], &event["data"]["status"]), (&json!("rooms"), &json!("PUBLISHING")));
    }
    nothing_within(&mut on_a, Duration::from_millis(300)).await;
    nothing_within(&mut on_b, Duration::from_millis(300)).await;

    for server in [&a, &b] {
        let (status, ready) = server.admin_get("/readyz").await;
        assert_eq!(status, 200, "{ready}");
        let ready: Value = serde_json::from_str(&ready).unwrap();
        assert_eq!(ready["cluster"], json!({"state": "up", "events": "up"}), "{ready}");
        assert_eq!(metric(server, "hookgate_cluster_state_up").await, Some(1.0));
        assert_eq!(metric(server, "hookgate_cluster_events_up").await, Some(1.0));
    }
}

/// What one hook of the load got.
#[derive(Debug, Default)]
struct Tally {
    allowed: u32,
    refused_by_quota: u32,
    fallback: u32,
    events_ok: u32,
}

#[tokio::test]
async fn redis_killed_under_load_and_restarted() {
    let mut redis = RedisServer::start();
    let tree = fleet_tree();
    let config = events_config(&tree, "");
    let server = instance(&tree, &config, &redis);

    // Four clients: each publishes a stream of its own and ends its session, over and over.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for client in 0..4 {
        let (hooks, stop) = (server.client(), stop.clone());
        let base = server.base.clone();
        load.spawn(async move {
            let mut tally = Tally::default();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let session = format!("load-{client}-{n}");
                let post = |method: &'static str, body: Vec<u8>| {
                    hooks.post(format!("{base}/rest/{method}")).header("content-type", "application/json").body(body)
                };
                let answer = post("publishStream", publish(&session, &session, n)).send().await;
                let answer = answer.unwrap_or_else(|err| panic!("publishStream unanswered: {err}"));
                let status = answer.status().as_u16();
                let body: Value =
                    serde_json::from_slice(&answer.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
                match (status, body["error"].as_str()) {
                    (200, _) => tally.allowed += 1,
                    (403, Some(error)) if error.starts_with("publisher quota reached") => tally.refused_by_quota += 1,
                    // `on_error = FAIL`: the policy could not reach its state, or a state call
                    // waiting on Redis (up to call_timeout_ms, 250) outlasted the 50 ms deadline.
                    (403, Some(error)) if body["policy"] == "quota" => {
                        let cause = error.contains("unavailable") || error.contains("exceeded its deadline");
                        assert!(cause, "unexpected failure: {body}");
                        tally.fallback += 1;
                    }
                    other => panic!("publishStream answered {other:?}: {body}"),
                }
                // `on_error = LOG`: an event is answered 200 whatever happens to its policy.
                let answer = post("ConnectionStatusEvent", disconnected(&session)).send().await;
                let answer = answer.unwrap_or_else(|err| panic!("ConnectionStatusEvent unanswered: {err}"));
                assert_eq!(answer.status().as_u16(), 200);
                tally.events_ok += 1;
            }
            tally
        });
    }
    let phase = Duration::from_millis(1500);
    tokio::time::sleep(phase).await;
    redis.kill();
    let outage_started = Instant::now();
    tokio::time::sleep(phase).await;
    let (_, ready) = server.admin_get("/readyz").await;
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["cluster"], json!({"state": "down", "events": "down"}), "{ready}");
    assert_eq!(metric(&server, "hookgate_cluster_state_up").await, Some(0.0));
    assert_eq!(metric(&server, "hookgate_cluster_events_up").await, Some(0.0));
    redis.restart();
    let outage = outage_started.elapsed();
    tokio::time::sleep(phase).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = Tally::default();
    while let Some(tally) = load.join_next().await {
        let tally = tally.expect("a load client panicked");
        total.allowed += tally.allowed;
        total.refused_by_quota += tally.refused_by_quota;
        total.fallback += tally.fallback;
        total.events_ok += tally.events_ok;
    }
    eprintln!("redis down for {outage:?} under load: {total:?}");
    assert!(total.fallback > 0, "hooks during the outage got the FAIL fallback: {total:?}");
    assert!(total.allowed > 0);

    // Back without restarting hookgate: the quota holds again and events flow again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server, "hookgate_cluster_events_up").await != Some(1.0) {
        assert!(Instant::now() < deadline, "the event bus did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&server, "hookgate_cluster_state_up").await, Some(1.0));
    let events_dropped = metric(&server, "hookgate_cluster_events_dropped_total").await.unwrap_or_default();
    assert!(events_dropped > 0.0, "events published while Redis was down were dropped and counted");
    for (n, session) in ["after-1", "after-2"].into_iter().enumerate() {
        let answer = server.hook("publishStream", &publish(session, session, 100 + n as u32)).await;
        assert_eq!(answer.status, 200, "{session}: {:?}", answer.json());
    }
    let refused = server.hook("publishStream", &publish("after-3", "after-3", 102)).await;
    assert_eq!(
        (refused.status, refused.json()),
        (403, json!({"error": "publisher quota reached: 2 of 2 publishers", "policy": "quota"}))
    );
    let mut socket = subscribe(&server, json!({"type": "StreamStatusEvent", "id": "after-1"})).await;
    server.hook("StreamStatusEvent", &stream_status("rooms", "after-1", "after-1", "PUBLISHING")).await;
    assert_eq!(next_json(&mut socket).await["id"], "after-1");
}

#[tokio::test]
async fn starts_while_redis_is_down_and_connects_when_it_comes_up() {
    let mut redis = RedisServer::start();
    redis.kill();
    let tree = fleet_tree();
    let config = events_config(&tree, "");
    let server = instance(&tree, &config, &redis);

    let during = server.hook("publishStream", &publish("s1", "cam1", 1)).await;
    assert_eq!(during.status, 403, "on_error = FAIL while the state is unreachable");
    assert_eq!(during.json()["policy"], "quota");
    assert!(during.json()["error"].as_str().unwrap().contains("unavailable"), "{:?}", during.json());
    assert_eq!(server.hook("ConnectionStatusEvent", &disconnected("s1")).await.status, 200, "on_error = LOG");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server, "hookgate_cluster_events_up").await != Some(1.0) {
        assert!(Instant::now() < deadline, "the event bus did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.hook("publishStream", &publish("s1", "cam1", 2)).await.status, 200);
    assert_eq!(metric(&server, "hookgate_cluster_state_up").await, Some(1.0));
}

#[tokio::test]
async fn a_stalled_redis_answers_the_policy_unavailable_within_its_deadline() {
    let redis = RedisServer::start();
    let tree = fleet_tree();
    let config = events_config(&tree, "");
    let server = instance(&tree, &config, &redis);
    assert_eq!(server.hook("publishStream", &publish("s1", "cam1", 1)).await.status, 200);

    // Redis hangs (connections open, nothing answered): the policy's state call gives up at
    // its 50 ms deadline with `unavailable`, which publisher-quota fails on: the FAIL fallback.
    redis.freeze();
    let during = server.hook("publishStream", &publish("s2", "cam2", 2)).await;
    assert_eq!(
        (during.status, during.json()),
        (
            403,
            json!({"error": "policy 'quota': policy returned an error: state unavailable: the state backend did \
                             not answer within the policy's deadline of 50 ms", "policy": "quota"})
        )
    );
    assert_eq!(server.hook("ConnectionStatusEvent", &disconnected("s1")).await.status, 200, "on_error = LOG");

    redis.thaw();
    assert_eq!(server.hook("publishStream", &publish("s2", "cam2", 3)).await.status, 200);
}

#[tokio::test]
async fn a_fleet_over_tls_shares_quotas_and_events() {
    let redis = RedisServer::start_tls();
    let tree = fleet_tree();
    let ca = redis.tls_cert_file();
    let config = events_config(&tree, &format!("[cluster]\ntls_ca_file = {:?}\n", ca.to_str().unwrap()));
    let (a, b) = (instance(&tree, &config, &redis), instance(&tree, &config, &redis));

    assert_eq!(a.hook("publishStream", &publish("s1", "cam1", 1)).await.status, 200);
    assert_eq!(b.hook("publishStream", &publish("s2", "cam2", 2)).await.status, 200);
    assert_eq!(a.hook("publishStream", &publish("s3", "cam3", 3)).await.status, 403, "2 of 2, across both");
    let mut watcher = subscribe(&b, json!({"type": "StreamStatusEvent", "id": "cam1"})).await;
    a.hook("StreamStatusEvent", &stream_status("rooms", "s1", "cam1", "PUBLISHING")).await;
    assert_eq!(next_json(&mut watcher).await["id"], "cam1", "A's event reached B's subscriber through TLS");
}
