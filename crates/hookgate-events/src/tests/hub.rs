//! The hub's index, fan-out and slow subscribers.

use super::*;
use serde_json::json;
use std::time::Duration;

fn topic(app_key: &str, event_type: &str, id: Option<&str>) -> Topic {
    Topic { app_key: app_key.into(), event_type: event_type.into(), id: id.map(Into::into) }
}

/// The next message, waiting for the fan-out task.
async fn recv(rx: &mut mpsc::Receiver<Utf8Bytes>) -> String {
    let message = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a message in time");
    message.expect("the queue is open").as_str().to_owned()
}

async fn until(hub: &EventHub, ready: impl Fn(HubStats) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ready(hub.stats()) {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {:?}", hub.stats());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn publish_reaches_exactly_the_matching_topics_once() {
    let hub = EventHub::new();
    let (a, mut a_rx) = hub.outbox(8);
    let (b, mut b_rx) = hub.outbox(8);
    assert!(hub.attach(&a, &topic("app1", "StreamStatusEvent", Some("s1"))));
    assert!(!hub.attach(&a, &topic("app1", "StreamStatusEvent", Some("s1"))), "attach is idempotent");
    assert!(hub.attach(&a, &topic("app1", "notification", None)));
    assert!(hub.attach(&a, &topic("app1", "notification", Some("n1"))));
    assert!(hub.attach(&b, &topic("app2", "StreamStatusEvent", Some("s1"))));
    assert!(hub.attach(&b, &topic("app2", "StreamStatusEvent", Some("sentinel"))));

    hub.publish("app1", "StreamStatusEvent", "s1", json!({"name": "s1", "token": "x"}));
    hub.publish("app1", "StreamStatusEvent", "s2", json!({}));
    hub.publish("app1", "notification", "n1", json!([]));
    hub.publish("app1", "notification", "n2", json!([]));
    hub.publish("app2", "StreamStatusEvent", "sentinel", json!({}));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(recv(&mut a_rx).await);
    }
    assert_eq!(
        got,
        [
            r#"{"type":"StreamStatusEvent","id":"s1","data":{"name":"s1","token":"***"}}"#,
            r#"{"type":"notification","id":"n1","data":[]}"#,
            r#"{"type":"notification","id":"n2","data":[]}"#,
        ]
    );
    // Events are fanned out in publish order: the sentinel shows nothing else reached b.
    assert_eq!(recv(&mut b_rx).await, r#"{"type":"StreamStatusEvent","id":"sentinel","data":{}}"#);
    until(&hub, |stats| stats.delivered == 4).await;
    assert!(a_rx.try_recv().is_err(), "n1 arrived once");
    assert_eq!(hub.stats().subscriptions, 5);

    for t in [topic("app1", "StreamStatusEvent", Some("s1")), topic("app1", "notification", None)] {
        hub.detach(&a, &t);
    }
    hub.detach(&a, &topic("app1", "notification", Some("n1")));
    hub.detach(&b, &topic("app2", "StreamStatusEvent", Some("s1")));
    hub.detach(&b, &topic("app2", "StreamStatusEvent", Some("sentinel")));
    assert_eq!(hub.stats().subscriptions, 0);
    assert!(hub.inner.index.read().expect("index").is_empty(), "empty entries are removed");
}

#[tokio::test]
async fn a_hook_is_published_as_its_event_and_only_parsed_when_watched() {
    let hub = EventHub::new();
    let (a, mut a_rx) = hub.outbox(8);
    hub.attach(&a, &topic("app1", "ErrorEvent", Some("sess")));
    hub.publish_hook("app1", "ErrorStatusEvent", r#"{"appKey":"app1","sessionId":"sess","info":"x"}"#);
    hub.publish_hook("app2", "ErrorEvent", "not JSON, but nobody in app2 watches: never parsed");
    hub.publish_hook("app1", "publishStream", r#"{"sessionId":"sess"}"#);
    hub.publish_hook("app1", "ErrorEvent", "not JSON");
    hub.publish_hook("app1", "ErrorEvent", r#"{"appKey":"app1","sessionId":"sess","n":2}"#);
    assert_eq!(
        recv(&mut a_rx).await,
        r#"{"type":"ErrorEvent","id":"sess","data":{"appKey":"app1","sessionId":"sess","info":"x"}}"#
    );
    assert_eq!(
        recv(&mut a_rx).await,
        r#"{"type":"ErrorEvent","id":"sess","data":{"appKey":"app1","sessionId":"sess","n":2}}"#
    );
    assert_eq!(
        hub.stats().published,
        3,
        "the two events and the unwatched one; not the direct invocation nor the bad body"
    );
}

#[tokio::test]
async fn a_full_queue_overflows_once_and_others_keep_receiving() {
    let hub = EventHub::new();
    let (slow, _slow_rx) = hub.outbox(2);
    let (fast, mut fast_rx) = hub.outbox(2);
    let t = topic("app", "StreamStatusEvent", Some("s"));
    hub.attach(&slow, &t);
    hub.attach(&fast, &t);
    for n in 0..10 {
        hub.publish("app", "StreamStatusEvent", "s", json!(n));
        assert_eq!(recv(&mut fast_rx).await, format!(r#"{{"type":"StreamStatusEvent","id":"s","data":{n}}}"#));
    }
    until(&hub, |stats| stats.delivered == 12).await;
    assert!(slow.overflowed.load(Ordering::Relaxed));
    assert_eq!(hub.stats().slow_disconnects, 1);
}

#[tokio::test]
async fn publishing_without_subscribers_queues_nothing() {
    let hub = EventHub::new();
    for _ in 0..(FANOUT_QUEUE + 10) {
        hub.publish("app", "StreamStatusEvent", "s", json!({}));
    }
    assert_eq!(hub.stats(), HubStats { published: FANOUT_QUEUE as u64 + 10, ..HubStats::default() });
}

#[tokio::test]
async fn connection_slots_are_limited_and_returned() {
    let hub = EventHub::new();
    let first = hub.open_connection(2).expect("slot 1");
    let _second = hub.open_connection(2).expect("slot 2");
    assert!(hub.open_connection(2).is_none());
    let pending = hub.open_pending(1).expect("pending slots are counted apart");
    assert!(hub.open_pending(1).is_none());
    assert_eq!((hub.stats().connections, hub.stats().pending), (2, 1));
    drop(first);
    drop(pending);
    assert_eq!((hub.stats().connections, hub.stats().pending), (1, 0));
    assert!(hub.open_connection(2).is_some());
}
