use crate::common::{FakeWcs, Reply, fast_config, message, settled, target, wait_for};
use hookgate_config::Secret;
use hookgate_outbox::{DataMessage, Outbox, OutboxConfig, OutboxStats, Target};
use std::collections::HashSet;

#[tokio::test]
async fn the_documented_body_arrives_exactly() {
    let wcs = FakeWcs::start(&[], Reply::Status(200)).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    let message = DataMessage {
        node_id: "Hw47CFMBEchV0pBMDr29IxjudnJ1sj0Y@192.168.1.101".into(),
        session_id: "/192.168.1.102:25789/192.168.1.101:8443".into(),
        operation_id: "d1999750-fde9-11e6-9f1b-913210792931".into(),
        payload: serde_json::json!({"test": "test", "n": [1, 2]}),
    };
    outbox.enqueue(target(&wcs.base_url), message).unwrap();

    let stats = wait_for(&outbox, settled).await;
    assert_eq!(stats, OutboxStats { queued: 1, sent: 1, ..OutboxStats::default() });
    let received = wcs.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        std::str::from_utf8(&received[0].body).unwrap(),
        r#"{"nodeId":"Hw47CFMBEchV0pBMDr29IxjudnJ1sj0Y@192.168.1.101","sessionId":"/192.168.1.102:25789/192.168.1.101:8443","operationId":"d1999750-fde9-11e6-9f1b-913210792931","payload":{"test":"test","n":[1,2]}}"#
    );
    assert_eq!(received[0].headers["content-type"], "application/json");
    assert!(!received[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn basic_auth_is_sent_when_configured() {
    let wcs = FakeWcs::start(&[], Reply::Status(200)).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    let target = Target {
        base_url: format!("{}/", wcs.base_url),
        basic: Some(("admin".into(), Secret::new(b"hunter2".to_vec()))),
    };
    outbox.enqueue(target, message(1)).unwrap();

    wait_for(&outbox, |s| s.sent == 1).await;
    assert_eq!(wcs.received()[0].headers["authorization"], "Basic YWRtaW46aHVudGVyMg==");
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let wcs = FakeWcs::start(&[], Reply::Status(200)).await;
    let outbox = Outbox::start(OutboxConfig { max_in_flight: 1, ..fast_config() }).unwrap();
    for n in 0..50 {
        outbox.enqueue(target(&wcs.base_url), message(n)).unwrap();
    }

    wait_for(&outbox, |s| s.sent == 50).await;
    let peers: HashSet<_> = wcs.received().iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), 1, "50 sends one at a time use one connection");
}
