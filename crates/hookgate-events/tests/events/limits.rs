use crate::common::*;
use hookgate_events::EventsLimits;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn the_servers_connection_limit_is_a_precise_answer() {
    let server = Server::with_limits(EventsLimits { max_connections: 2, ..EventsLimits::default() }).await;
    let token = token_for(ALICE, 3600);
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    for client in [&mut first, &mut second] {
        assert_eq!(ask(client, &attach(&token, "StreamStatusEvent", Some("s"))).await, ok());
    }
    // The limit counts authenticated connections: the third is refused at its first request.
    let mut third = server.connect().await;
    send_text(&mut third, &attach(&token_for(BOB, 60), "StreamStatusEvent", Some("s")).to_string()).await;
    let (messages, close) = until_close(&mut third).await;
    assert_eq!(messages, [refused(6, "Too many connections: the server's limit of 2 is reached")]);
    assert_eq!(close.expect("close frame").code, CloseCode::Again);
    assert_eq!(server.hub.stats().subscriptions, 4, "the refused request attached nothing");
    drop(first);
    server.until("the first connection to be counted out", |stats| stats.connections < 2).await;
    let mut fourth = server.connect().await;
    assert_eq!(ask(&mut fourth, &attach(&token_for(ALICE, 60), "StreamStatusEvent", Some("s"))).await, ok());
}

/// Waits until the server closes a socket that sent nothing; how long that took. The server
/// must not have sent a byte.
async fn until_closed_by_server(socket: &mut tokio::net::TcpStream) -> std::time::Duration {
    use tokio::io::AsyncReadExt as _;
    let start = std::time::Instant::now();
    let mut buffer = [0u8; 1024];
    match tokio::time::timeout(PATIENCE, socket.read(&mut buffer)).await.expect("closed in time") {
        Ok(0) | Err(_) => start.elapsed(),
        Ok(n) => panic!("the server sent {n} bytes to a socket that sent nothing"),
    }
}

#[tokio::test]
async fn bare_and_unauthenticated_sockets_take_no_connection_slot_and_are_closed_in_time() {
    let limits = EventsLimits { max_connections: 4, handshake_timeout_ms: 600, ..EventsLimits::default() };
    let server = Server::with_limits(limits).await;
    // Six TCP sockets that never send a byte, and four WebSockets that never send a request.
    let mut bare = Vec::new();
    for _ in 0..6 {
        bare.push(tokio::net::TcpStream::connect(server.addr).await.expect("connect"));
    }
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(server.connect().await);
    }
    server.until("every socket to be accepted", |stats| stats.pending == 10).await;
    assert_eq!(server.hub.stats().connections, 0, "none of them holds a connection slot");

    let mut alice = server.connect().await;
    assert_eq!(ask(&mut alice, &attach(&token_for(ALICE, 3600), "StreamStatusEvent", Some("s"))).await, ok());
    server.hub.publish("app1", "StreamStatusEvent", "s", json!({}));
    assert_eq!(next_json(&mut alice).await, json!({"type": "StreamStatusEvent", "id": "s", "data": {}}));
    let stats = server.hub.stats();
    assert_eq!((stats.connections, stats.pending, stats.subscriptions), (1, 10, 2));

    // The bare sockets are closed after the handshake timeout, without a byte sent to them.
    for socket in &mut bare {
        let waited = until_closed_by_server(socket).await;
        assert!(waited < PATIENCE, "closed after {waited:?}");
    }
    server.until("the bare sockets to be counted out", |stats| stats.pending == 4).await;
    // The WebSockets get `request_timeout_ms` (10 s here) for their first request: still open.
    assert_eq!((server.hub.stats().connections, server.hub.stats().pending), (1, 4));
}

#[tokio::test]
async fn past_the_pending_cap_a_connection_is_refused_with_503_until_one_ends() {
    let server = Server::with_limits(EventsLimits { max_pending_connections: 2, ..EventsLimits::default() }).await;
    let first = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let _second = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    server.until("both to be pending", |stats| stats.pending == 2).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await.expect_err("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 503);
            let body = String::from_utf8(response.body().clone().expect("a body")).expect("UTF-8");
            assert_eq!(
                body,
                "Too many connections waiting for their handshake or first request: the limit of 2 is reached\n"
            );
        }
        other => panic!("expected an HTTP 503, got {other}"),
    }
    assert_eq!(server.hub.stats().pending, 2, "the refused connection was never counted");
    drop(first);
    server.until("the first to be counted out", |stats| stats.pending == 1).await;
    let mut alice = server.connect().await;
    assert_eq!(ask(&mut alice, &attach(&token_for(ALICE, 3600), "StreamStatusEvent", Some("s"))).await, ok());
    assert_eq!((server.hub.stats().connections, server.hub.stats().pending), (1, 1));
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
    // A socket still in its handshake does not hold shutdown up (it would for 10 s).
    let mut bare = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    server.until("the bare socket to be pending", |stats| stats.pending == 1).await;
    let (closed, (), _) = tokio::join!(until_close(&mut client), server.shutdown(), until_closed_by_server(&mut bare));
    assert_eq!(server.hub.stats().pending, 0);
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
