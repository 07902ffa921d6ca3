use crate::common::*;
use hookgate_events::EventsLimits;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn the_servers_connection_limit_is_a_precise_answer() {
    let server = Server::with_limits(EventsLimits { max_connections: 2, ..EventsLimits::default() }).await;
    let _first = server.connect().await;
    let _second = server.connect().await;
    let mut third = server.connect().await;
    let (messages, close) = until_close(&mut third).await;
    assert_eq!(messages, [refused(6, "Too many connections: the server's limit of 2 is reached")],);
    assert_eq!(close.expect("close frame").code, CloseCode::Again);
    drop(_first);
    server.until("the first connection to be counted out", |stats| stats.connections < 2).await;
    let mut fourth = server.connect().await;
    assert_eq!(ask(&mut fourth, &attach(&token_for(ALICE, 60), "StreamStatusEvent", Some("s"))).await, ok());
}

#[tokio::test]
async fn the_per_user_connection_limit_is_a_precise_answer() {
    let server = Server::with_limits(EventsLimits { max_connections_per_user: 2, ..EventsLimits::default() }).await;
    let token = token_for(ALICE, 3600);
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut client = server.connect().await;
        assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("s"))).await, ok());
        open.push(client);
    }
    let mut third = server.connect().await;
    send_text(&mut third, &attach(&token, "StreamStatusEvent", Some("s")).to_string()).await;
    let (messages, close) = until_close(&mut third).await;
    assert_eq!(messages, [refused(6, "Too many connections: this user already has 2")]);
    assert_eq!(close.expect("close frame").code, CloseCode::Policy);
    // Another user is not affected.
    let mut bob = server.connect().await;
    assert_eq!(ask(&mut bob, &attach(&token_for(BOB, 60), "StreamStatusEvent", Some("s"))).await, ok());
}

#[tokio::test]
async fn the_subscription_limit_per_connection() {
    let server =
        Server::with_limits(EventsLimits { max_subscriptions_per_connection: 3, ..EventsLimits::default() }).await;
    let mut client = server.connect().await;
    let token = token_for(ALICE, 3600);
    // Alice watches two tenants: one attach is two subscriptions.
    assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("a"))).await, ok());
    assert_eq!(
        ask(&mut client, &attach(&token, "StreamStatusEvent", Some("b"))).await,
        refused(6, "Too many subscriptions: the limit is 3 per connection")
    );
    assert_eq!(ask(&mut client, &attach(&token, "StreamStatusEvent", Some("a"))).await, ok(), "re-attach is free");
    let mut one_tenant = attach(&token, "StreamStatusEvent", Some("b"));
    one_tenant["event"]["appKey"] = json!("app1");
    assert_eq!(ask(&mut client, &one_tenant).await, ok());
}

#[tokio::test]
async fn a_slow_subscriber_is_told_and_dropped_while_a_fast_one_keeps_receiving() {
    let server = Server::with_limits(EventsLimits { queue_capacity: 16, ..EventsLimits::default() }).await;
    let token = token_for(ALICE, 3600);
    let mut fast = server.connect().await;
    let mut slow = server.connect().await;
    for client in [&mut fast, &mut slow] {
        assert_eq!(ask(client, &attach(&token, "StreamStatusEvent", Some("s"))).await, ok());
    }
    // Large events fill the slow client's socket buffers, then its queue; the fast client reads
    // every one as it comes.
    let padding = "x".repeat(64 * 1024);
    let mut published = 0;
    while server.hub.stats().slow_disconnects == 0 {
        assert!(published < 10_000, "the slow subscriber was never dropped");
        server.hub.publish("app1", "StreamStatusEvent", "s", json!({"n": published, "padding": padding}));
        assert_eq!(next_json(&mut fast).await["data"]["n"], published);
        published += 1;
    }
    for _ in 0..10 {
        server.hub.publish("app1", "StreamStatusEvent", "s", json!({"n": published, "padding": ""}));
        assert_eq!(next_json(&mut fast).await["data"]["n"], published, "the fast subscriber keeps receiving");
        published += 1;
    }
    let (messages, close) = until_close(&mut slow).await;
    let (notice, events) = messages.split_last().expect("at least the notice");
    assert_eq!(notice, &refused(7, "Too slow: more than 16 events were waiting; disconnected"));
    assert!(events.len() < published as usize, "the slow one did not get everything: {}", events.len());
    assert!(events.iter().enumerate().all(|(i, event)| event["data"]["n"] == i), "what it got is in order, no gap");
    assert_eq!(close.expect("close frame").reason.as_str(), "too slow");
    server
        .until("the slow subscription to be detached", |stats| stats.subscriptions == 2 && stats.connections == 1)
        .await;
}

#[tokio::test]
async fn the_server_pings_and_drops_a_peer_that_does_not_answer() {
    let server = Server::with_limits(EventsLimits { ping_interval_ms: 100, ..EventsLimits::default() }).await;
    let token = token_for(ALICE, 3600);
    let mut live = server.connect().await;
    let mut dead = server.connect().await;
    for client in [&mut live, &mut dead] {
        assert_eq!(ask(client, &attach(&token, "StreamStatusEvent", Some("s"))).await, ok());
    }
    // `dead` never reads again, so it never answers a ping; `live` keeps reading (a client
    // sends its pong when it next reads).
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        loop {
            match tokio::time::timeout(PATIENCE, futures_util::StreamExt::next(&mut live)).await {
                Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                Ok(Some(Ok(Message::Text(text)))) => return (pings, text.as_str().to_owned()),
                other => panic!("expected pings then an event, got {other:?}"),
            }
        }
    });
    server.until("the dead peer to be dropped", |stats| stats.connections == 1 && stats.subscriptions == 2).await;
    server.hub.publish("app1", "StreamStatusEvent", "s", json!({}));
    let (pings, event) = reader.await.expect("reader");
    assert!(pings >= 2, "the live peer was pinged ({pings} pings) and kept");
    assert_eq!(event, r#"{"type":"StreamStatusEvent","id":"s","data":{}}"#);
}

#[tokio::test]
async fn a_connection_without_a_successful_request_is_closed() {
    let server = Server::with_limits(EventsLimits { request_timeout_ms: 200, ..EventsLimits::default() }).await;
    let mut idle = server.connect().await;
    let (messages, close) = until_close(&mut idle).await;
    assert!(messages.is_empty());
    assert_eq!(close.expect("close frame").reason.as_str(), "no successful request in time");
}

#[tokio::test]
async fn shutdown_closes_every_connection_and_serve_returns() {
    let mut server = Server::start().await;
    let mut client = server.connect().await;
    assert_eq!(ask(&mut client, &attach(&token_for(ALICE, 3600), "notification", None)).await, ok());
    let (closed, ()) = tokio::join!(until_close(&mut client), server.shutdown());
    let close = closed.1.expect("close frame");
    assert_eq!((close.code, close.reason.as_str()), (CloseCode::Away, "server shutting down"));
    assert_eq!(server.hub.stats().subscriptions, 0);
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn only_the_ws_path_is_served() {
    let server = Server::start().await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/events", server.addr)).await.expect_err("404");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 404),
        other => panic!("expected an HTTP 404, got {other}"),
    }
}

#[tokio::test]
async fn access_removed_from_the_directory_ends_the_connection_at_the_next_ping() {
    let server = Server::with_limits(EventsLimits { ping_interval_ms: 100, ..EventsLimits::default() }).await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    assert_eq!(ask(&mut alice, &attach(&token_for(ALICE, 3600), "StreamStatusEvent", Some("s"))).await, ok());
    assert_eq!(ask(&mut bob, &attach(&token_for(BOB, 3600), "StreamStatusEvent", Some("s"))).await, ok());
    // Alice loses app2, Bob is removed.
    let next = server.users_path.with_extension("next");
    std::fs::write(&next, "[users.\"5dad615eae019570fb4647ed\"]\napp_keys = [\"app1\"]\n").expect("write");
    std::fs::rename(&next, &server.users_path).expect("rename into place");
    for (client, code, message) in [(&mut alice, 4, "Not access for dataset"), (&mut bob, 3, "User not exists")] {
        let (messages, close) = until_close(client).await;
        assert_eq!(messages, [refused(code, message)]);
        assert_eq!(close.expect("close frame").reason.as_str(), "access revoked");
    }
}
