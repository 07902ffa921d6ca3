//! Two instances (two hubs, two listeners) sharing events over a real Redis: each test starts
//! its own `redis-server` on a free port, or uses `HOOKGATE_TEST_REDIS_URL` where it does not
//! need to stop the server. Every test has its own channel.

use crate::common::*;
use hookgate_events::{BusConfig, BusStats, RedisBus};
use hookgate_testkit::RedisServer;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// How long a subscriber must stay silent for "no duplicate" to hold.
const QUIET: Duration = Duration::from_millis(300);

/// A Redis for one test: `HOOKGATE_TEST_REDIS_URL`'s, or a server of the test's own.
struct Redis {
    url: String,
    server: Option<RedisServer>,
}

impl Redis {
    /// `HOOKGATE_TEST_REDIS_URL` if set, else a server of the test's own.
    fn any() -> Redis {
        match std::env::var("HOOKGATE_TEST_REDIS_URL") {
            Ok(url) => Redis { url, server: None },
            Err(_) => Redis::own(),
        }
    }

    /// A server of the test's own, running.
    fn own() -> Redis {
        Redis::from(RedisServer::start())
    }

    /// A server of the test's own on a free port, not started yet.
    fn stopped() -> Redis {
        Redis::from(RedisServer::stopped())
    }

    fn from(server: RedisServer) -> Redis {
        Redis { url: server.url(), server: Some(server) }
    }

    /// Starts the test's own server on its port (again) and waits until it answers.
    fn start(&mut self) {
        self.server.as_mut().expect("a server of the test's own").restart();
    }

    /// Kills the test's own server and waits until it is gone.
    fn kill(&mut self) {
        self.server.as_mut().expect("a server of the test's own").kill();
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url.as_str())?.get_multiplexed_async_connection().await
    }

    /// PUBLISHes raw bytes, as another program could.
    async fn publish_raw(&self, channel: &str, message: &[u8]) {
        let mut connection = self.connection().await.expect("connect");
        redis::cmd("PUBLISH").arg(channel).arg(message).exec_async(&mut connection).await.expect("PUBLISH");
    }

    /// Waits until `count` clients are connected, the query's own included.
    async fn until_clients(&self, count: usize, what: &str) {
        let mut connection = self.connection().await.expect("connect");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let list: String =
                redis::cmd("CLIENT").arg("LIST").query_async(&mut connection).await.expect("CLIENT LIST");
            if list.lines().count() == count {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}:\n{list}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A channel no other test uses (they may share a Redis).
fn channel() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("hookgate:test:{}:{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One hookgate instance: an event service whose hub publishes through Redis.
struct Instance {
    server: Server,
    bus: RedisBus,
}

impl Instance {
    async fn start(redis_url: &str, channel: &str) -> Instance {
        let server = Server::start().await;
        let config = BusConfig { channel: channel.to_owned(), ..BusConfig::new(redis_url) };
        let bus = RedisBus::start(&server.hub, config).expect("a valid bus configuration");
        Instance { server, bus }
    }

    /// A client of this instance, attached by Alice to (`event_type`, `id`).
    async fn subscriber(&self, event_type: &str, id: Option<&str>) -> Client {
        let mut client = self.server.connect().await;
        assert_eq!(ask(&mut client, &attach(&token_for(ALICE, 3600), event_type, id)).await, ok());
        client
    }

    async fn until(&self, what: &str, ready: impl Fn(BusStats) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !ready(self.bus.stats()) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.bus.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn connected(&self) {
        self.until("the bus to connect", |stats| stats.connected).await;
    }

    fn publish_hook(&self, payload: &Value) {
        let app_key = payload["appKey"].as_str().expect("appKey");
        self.server.hub.publish_hook(app_key, "StreamStatusEvent", &payload.to_string());
    }
}

fn stream_status(app_key: &str, name: &str, status: impl Into<Value>) -> Value {
    json!({"nodeId": "n@192.168.1.101", "appKey": app_key, "sessionId": "/1.2.3.4:1/5.6.7.8:8443",
           "mediaSessionId": "c43a28b7", "name": name, "published": true, "status": status.into(),
           "custom": {"token": "secret-value"}})
}

/// The message a subscriber gets for a `stream_status` hook.
fn delivered(payload: &Value) -> Value {
    let mut data = payload.clone();
    data["custom"]["token"] = json!("***");
    json!({"type": "StreamStatusEvent", "id": payload["name"], "data": data})
}

/// Fails if an event message arrives within [`QUIET`] (pings are fine).
async fn nothing_more(client: &mut Client, who: &str) {
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(client)).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("{who} got more: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_event_published_on_either_instance_reaches_each_subscriber_of_both_exactly_once() {
    let redis = Redis::any();
    let channel = channel();
    let (a, b) = (Instance::start(&redis.url, &channel).await, Instance::start(&redis.url, &channel).await);
    a.connected().await;
    b.connected().await;
    let mut on_a = a.subscriber("StreamStatusEvent", Some("stream1")).await;
    let mut on_b = b.subscriber("StreamStatusEvent", Some("stream1")).await;
    let mut notified_on_b = b.subscriber("notification", None).await;

    let hook = stream_status("app1", "stream1", "PUBLISHING");
    a.publish_hook(&hook);
    assert_eq!(next_json(&mut on_a).await, delivered(&hook));
    assert_eq!(next_json(&mut on_b).await, delivered(&hook));
    b.server.hub.publish("app2", "notification", "n1", json!({"text": "from B", "password": "p"}));
    assert_eq!(
        next_json(&mut notified_on_b).await,
        json!({"type": "notification", "id": "n1", "data": {"text": "from B", "password": "***"}})
    );
    nothing_more(&mut on_a, "A's subscriber").await;
    nothing_more(&mut on_b, "B's subscriber").await;
    nothing_more(&mut notified_on_b, "B's notification subscriber").await;

    for (instance, name) in [(&a, "A"), (&b, "B")] {
        instance.until("the PUBLISH answer", |stats| stats.published == 1).await;
        let stats = instance.bus.stats();
        assert_eq!(stats, BusStats { connected: true, published: 1, received: 2, ..BusStats::default() }, "{name}");
    }
    assert_eq!(a.server.hub.stats().delivered, 1, "A delivered the hook, once, to its one subscriber");
    assert_eq!(b.server.hub.stats().delivered, 2);
}

#[tokio::test]
async fn a_subscriber_never_gets_another_tenants_event_from_another_instance() {
    let redis = Redis::any();
    let channel = channel();
    let (a, b) = (Instance::start(&redis.url, &channel).await, Instance::start(&redis.url, &channel).await);
    a.connected().await;
    b.connected().await;
    let mut bob_on_b = b.server.connect().await;
    assert_eq!(ask(&mut bob_on_b, &attach(&token_for(BOB, 3600), "StreamStatusEvent", Some("s"))).await, ok());
    let mut alice_on_b = b.server.connect().await;
    let mut narrowed = attach(&token_for(ALICE, 3600), "StreamStatusEvent", Some("s"));
    narrowed["event"]["appKey"] = json!("app2");
    assert_eq!(ask(&mut alice_on_b, &narrowed).await, ok());

    let (app2, app3, app1) =
        (stream_status("app2", "s", "A"), stream_status("app3", "s", "B"), stream_status("app1", "s", "C"));
    for hook in [&app2, &app3, &app1] {
        a.publish_hook(hook);
    }
    // Bob may see app1 only; events keep their order, so app1 arriving first shows the others did not.
    assert_eq!(next_json(&mut bob_on_b).await, delivered(&app1));
    assert_eq!(next_json(&mut alice_on_b).await, delivered(&app2));
    nothing_more(&mut bob_on_b, "Bob").await;
    nothing_more(&mut alice_on_b, "Alice, narrowed to app2").await;
}

#[tokio::test]
async fn a_bus_started_while_redis_is_down_connects_by_itself_when_it_comes_up() {
    let mut redis = Redis::stopped();
    let a = Instance::start(&redis.url, &channel()).await;
    let mut on_a = a.subscriber("StreamStatusEvent", Some("s")).await;
    a.publish_hook(&stream_status("app1", "s", "lost"));
    a.until("the event to be dropped", |stats| stats.dropped == 1).await;
    assert!(!a.bus.stats().connected);

    redis.start();
    a.connected().await;
    let hook = stream_status("app1", "s", "delivered");
    a.publish_hook(&hook);
    assert_eq!(next_json(&mut on_a).await, delivered(&hook), "the dropped event never arrives");
    assert_eq!(a.bus.stats().reconnects, 0, "a first connection, however late, is not a reconnect");
}

#[tokio::test]
async fn events_published_while_redis_is_down_are_dropped_and_delivery_resumes_when_it_is_back() {
    let mut redis = Redis::own();
    let channel = channel();
    let (a, b) = (Instance::start(&redis.url, &channel).await, Instance::start(&redis.url, &channel).await);
    a.connected().await;
    b.connected().await;
    let mut on_a = a.subscriber("StreamStatusEvent", Some("s")).await;
    let mut on_b = b.subscriber("StreamStatusEvent", Some("s")).await;
    let publish = |range: std::ops::Range<u64>| {
        for n in range {
            a.publish_hook(&stream_status("app1", "s", n));
        }
    };
    let received = async |client: &mut Client, count: usize| {
        let mut statuses = Vec::new();
        for _ in 0..count {
            statuses.push(next_json(client).await["data"]["status"].as_u64().expect("a numbered status"));
        }
        statuses
    };

    publish(0..20);
    assert_eq!(received(&mut on_a, 20).await, (0..20).collect::<Vec<_>>());
    assert_eq!(received(&mut on_b, 20).await, (0..20).collect::<Vec<_>>());

    redis.kill();
    a.until("A to notice", |stats| !stats.connected).await;
    b.until("B to notice", |stats| !stats.connected).await;
    publish(20..40);
    a.until("the events to be dropped", |stats| stats.dropped == 20).await;

    redis.start();
    a.connected().await;
    b.connected().await;
    publish(40..60);
    assert_eq!(received(&mut on_a, 20).await, (40..60).collect::<Vec<_>>(), "none lost, none twice, in order");
    assert_eq!(received(&mut on_b, 20).await, (40..60).collect::<Vec<_>>());
    nothing_more(&mut on_a, "A's subscriber").await;
    nothing_more(&mut on_b, "B's subscriber").await;
    let stats = a.bus.stats();
    assert_eq!((stats.published, stats.dropped, stats.received), (40, 20, 40));
    assert!(stats.reconnects >= 2, "the publishing and the subscribed connections: {stats:?}");
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_counted_and_ignored() {
    let redis = Redis::any();
    let channel = channel();
    let a = Instance::start(&redis.url, &channel).await;
    a.connected().await;
    let mut on_a = a.subscriber("notification", Some("n1")).await;
    redis.publish_raw(&channel, b"garbage").await;
    redis.publish_raw(&channel, b"[\"hook\",\"app1\",\"publishStream\"]\n{}").await;
    // The format is plain enough for another program to publish an event.
    redis.publish_raw(&channel, b"[\"event\",\"app1\",\"notification\",\"n1\"]\n{\"text\":\"hi\"}").await;
    assert_eq!(next_json(&mut on_a).await, json!({"type": "notification", "id": "n1", "data": {"text": "hi"}}));
    let stats = a.bus.stats();
    assert_eq!((stats.received, stats.decode_errors, stats.connected), (3, 2, true));
}

#[tokio::test]
async fn the_bus_closes_its_connections_when_stopped_or_when_its_hub_is_dropped() {
    let redis = Redis::own();
    let mut a = Instance::start(&redis.url, &channel()).await;
    a.connected().await;
    redis.until_clients(3, "publishing, subscribed, and the query").await;
    a.server.shutdown().await;
    let Instance { server, bus } = a;
    drop(server);
    redis.until_clients(1, "the bus to end with its hub").await;
    assert_eq!(bus.stats().published + bus.stats().dropped, 0, "the counters stay readable");

    let b = Instance::start(&redis.url, &channel()).await;
    b.connected().await;
    redis.until_clients(3, "the new bus").await;
    tokio::time::timeout(PATIENCE, b.bus.stop()).await.expect("stop returns");
    redis.until_clients(1, "the stopped bus to close its connections").await;
}

#[tokio::test]
async fn a_publish_refused_by_redis_is_dropped_without_replacing_the_connection() {
    let redis = Redis::own();
    let mut admin = redis.connection().await.expect("connect");
    redis::cmd("ACL")
        .arg(&["SETUSER", "hookgate", "on", ">s3cret", "~*", "&*", "+@all", "-publish"])
        .exec_async(&mut admin)
        .await
        .expect("ACL SETUSER");
    let url = redis.url.replace("redis://", "redis://hookgate:s3cret@");
    let channel = channel();
    let a = Instance::start(&url, &channel).await;
    a.connected().await;
    let mut on_a = a.subscriber("notification", Some("n1")).await;

    a.server.hub.publish("app1", "notification", "n1", json!({"refused": true}));
    a.until("the refused event to be dropped", |stats| stats.dropped == 1).await;
    redis.publish_raw(&channel, b"[\"event\",\"app1\",\"notification\",\"n1\"]\n{\"from\":\"admin\"}").await;
    assert_eq!(next_json(&mut on_a).await["data"], json!({"from": "admin"}), "the subscriber is still there");
    let stats = a.bus.stats();
    assert_eq!((stats.connected, stats.published, stats.reconnects), (true, 0, 0), "{stats:?}");
}
