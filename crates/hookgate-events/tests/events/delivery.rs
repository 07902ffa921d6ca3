use crate::common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn stream_status(app_key: &str, name: &str, status: &str) -> Value {
    json!({"nodeId": "n@192.168.1.101", "appKey": app_key, "sessionId": "/1.2.3.4:1/5.6.7.8:8443",
           "mediaSessionId": "c43a28b7", "name": name, "published": true, "status": status,
           "custom": {"token": "secret-value", "room": "r1"}})
}

/// Publishes a StreamStatusEvent payload the way the hook path will: keyed by `event_key`.
fn publish(server: &Server, payload: Value) {
    let app_key = payload["appKey"].as_str().expect("appKey").to_owned();
    let (event_type, id) = hookgate_events::event_key("StreamStatusEvent", &payload).expect("an event");
    let (event_type, id) = (event_type.to_owned(), id.to_owned());
    server.hub.publish(&app_key, &event_type, &id, payload);
}

#[tokio::test]
async fn an_attached_event_arrives_once_masked_and_detach_stops_it() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let token = token_for(ALICE, 3600);
    assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("stream1"))).await, ok());
    assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("sentinel"))).await, ok());

    publish(&server, stream_status("app1", "stream1", "PUBLISHING"));
    publish(&server, stream_status("app1", "other-stream", "PUBLISHING"));
    publish(&server, stream_status("app1", "sentinel", "PUBLISHING"));
    let mut expected = stream_status("app1", "stream1", "PUBLISHING");
    expected["custom"]["token"] = json!("***");
    assert_eq!(next_json(&mut client).await, json!({"type": "StreamStatusEvent", "id": "stream1", "data": expected}));
    // Events arrive in order, so the sentinel shows that nothing else came in between.
    assert_eq!(next_json(&mut client).await["id"], "sentinel");

    assert_eq!(ask(&mut client, &request("detach", &token, "StreamStatusEvent", Some("stream1"))).await, ok());
    publish(&server, stream_status("app1", "stream1", "UNPUBLISHED"));
    publish(&server, stream_status("app1", "sentinel", "UNPUBLISHED"));
    let next = next_json(&mut client).await;
    assert_eq!((next["id"].as_str(), next["data"]["status"].as_str()), (Some("sentinel"), Some("UNPUBLISHED")));
    assert_eq!(server.hub.stats().subscriptions, 2 /* sentinel in app1 and app2 */);
}

#[tokio::test]
async fn another_tenants_events_never_arrive() {
    let server = Server::start().await;
    let mut bob = server.connect().await;
    let token = token_for(BOB, 3600);
    assert_eq!(ask(&mut bob, &attach(&token, "StreamStatusEvent", Some("stream1"))).await, ok());
    publish(&server, stream_status("app2", "stream1", "PUBLISHING"));
    publish(&server, stream_status("app3", "stream1", "PUBLISHING"));
    publish(&server, stream_status("app1", "stream1", "PLAYING"));
    let next = next_json(&mut bob).await;
    assert_eq!((next["data"]["appKey"].as_str(), next["data"]["status"].as_str()), (Some("app1"), Some("PLAYING")));
}

#[tokio::test]
async fn an_app_key_in_the_request_narrows_to_that_tenant() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let mut narrowed = attach(&token_for(ALICE, 3600), "StreamStatusEvent", Some("s"));
    narrowed["event"]["appKey"] = json!("app2");
    assert_eq!(ask(&mut client, &narrowed).await, ok());
    publish(&server, stream_status("app1", "s", "PUBLISHING"));
    publish(&server, stream_status("app2", "s", "PLAYING"));
    assert_eq!(next_json(&mut client).await["data"]["appKey"], "app2");
}

#[tokio::test]
async fn notification_without_id_receives_every_notification_of_the_users_tenants() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let token = token_for(ALICE, 3600);
    assert_eq!(ask(&mut client, &attach(&token, "notification", None)).await, ok());
    assert_eq!(ask(&mut client, &attach(&token, "notification", Some("n1"))).await, ok());
    server.hub.publish("app3", "notification", "n0", json!({"text": "not Alice's tenant"}));
    server.hub.publish("app1", "notification", "n1", json!({"text": "one", "password": "p"}));
    server.hub.publish("app2", "notification", "n2", json!(["two"]));
    assert_eq!(
        next_json(&mut client).await,
        json!({"type": "notification", "id": "n1", "data": {"text": "one", "password": "***"}}),
        "once, though attached both by id and to all"
    );
    assert_eq!(next_json(&mut client).await, json!({"type": "notification", "id": "n2", "data": ["two"]}));
}

#[tokio::test]
async fn deliveries_stop_when_the_token_expires() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    assert_eq!(ask(&mut client, &attach(&token_for(ALICE, 2), "StreamStatusEvent", Some("s"))).await, ok());
    publish(&server, stream_status("app1", "s", "PUBLISHING"));
    assert_eq!(next_json(&mut client).await["id"], "s");
    let (messages, close) = until_close(&mut client).await;
    assert_eq!(messages, [refused(8, "Token expired")]);
    let close = close.expect("a close frame");
    assert_eq!((close.code, close.reason.as_str()), (CloseCode::Policy, "token expired"));
    server.until("the subscription to be detached", |stats| stats.subscriptions == 0 && stats.connections == 0).await;
}

#[tokio::test]
async fn a_fresh_token_renews_the_connection() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    assert_eq!(ask(&mut client, &attach(&token_for(ALICE, 1), "StreamStatusEvent", Some("s"))).await, ok());
    assert_eq!(ask(&mut client, &attach(&token_for(ALICE, 3600), "StreamStatusEvent", Some("s"))).await, ok());
    // Past the first token's expiry (`exp` is wall-clock seconds, so this waits for real),
    // deliveries go on under the second.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    publish(&server, stream_status("app1", "s", "PUBLISHING"));
    assert_eq!(next_json(&mut client).await["id"], "s");
}

#[tokio::test]
async fn the_user_directory_is_reloaded_when_it_changes() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let token = token_for("carol", 3600);
    assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("s"))).await, refused(3, "User not exists"));
    let next = server.users_path.with_extension("next");
    std::fs::write(&next, format!("{USERS}\n[users.carol]\napp_keys = [\"app1\"]\n")).expect("write");
    std::fs::rename(&next, &server.users_path).expect("rename into place");
    assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("s"))).await, ok());
}

#[tokio::test]
async fn a_burst_of_requests_is_answered_in_order() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let token = token_for(ALICE, 3600);
    for n in 0..100 {
        send_text(&mut client, &attach(&token, "StreamStatusEvent", Some(&format!("s{n}"))).to_string()).await;
    }
    send_text(&mut client, "not json").await;
    for _ in 0..100 {
        assert_eq!(next_json(&mut client).await, ok());
    }
    assert_eq!(next_json(&mut client).await, refused(5, "Invalid request"));
    assert_eq!(server.hub.stats().subscriptions, 200, "100 streams in both of Alice's tenants");
}
