//! The shipped tree answering the documented cases exactly.

use crate::common::{Server, Tree, payload};
use serde_json::{Value, json};

#[tokio::test]
async fn connect_with_token_gets_the_full_mirror_plus_rest_client_config() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &[]);
    for file in ["connect.hmac-token.json", "connect.jwt-token.json"] {
        let sent = payload(file);
        let answer = server.hook("connect", &sent).await;
        assert_eq!(answer.status, 200, "{file}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        // The mirror keeps every received byte; restClientConfig is appended before the last brace.
        let received = String::from_utf8(sent.clone()).unwrap();
        let cut = received.trim_end().len() - 1;
        assert!(
            String::from_utf8_lossy(&answer.body).starts_with(received[..cut].trim_end()),
            "{file}: mirror changed"
        );
        let mut body = answer.json();
        let config = body.as_object_mut().unwrap().remove("restClientConfig").expect("restClientConfig added");
        assert_eq!(body, serde_json::from_slice::<Value>(&sent).unwrap(), "{file}: mirror differs");
        assert_eq!(
            config,
            json!({
                "connect": {"restExclude": "", "clientExclude": "", "restOnError": "FAIL", "restPolicy": "NOTIFY", "restOverwrite": ""},
                "publishStream": {"restExclude": "", "clientExclude": "", "restOnError": "FAIL", "restPolicy": "OVERWRITE", "restOverwrite": "name"},
                "playStream": {"restExclude": "", "clientExclude": "", "restOnError": "FAIL", "restPolicy": "OVERWRITE", "restOverwrite": "name"},
                "StreamStatusEvent": {"restExclude": "", "clientExclude": "", "restOnError": "LOG", "restPolicy": "NOTIFY", "restOverwrite": ""},
                "ConnectionStatusEvent": {"restExclude": "", "clientExclude": "", "restOnError": "LOG", "restPolicy": "NOTIFY", "restOverwrite": ""}
            })
        );
    }
}

#[tokio::test]
async fn connect_without_or_with_a_forged_token_is_refused() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &[]);
    let answer = server.hook("connect", &payload("connect.json")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json(), json!({"error": "missing token", "policy": "token-auth"}));
    let answer = server.hook("connect", &payload("connect.bad-token.json")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["policy"], "token-auth");
    assert!(answer.json().get("restClientConfig").is_none());
}

#[tokio::test]
async fn stream_names_are_refused_overridden_or_echoed() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &[]);

    let answer = server.hook("publishStream", &payload("publishStream.forbidden.json")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json(), json!({"error": "stream name 'forbidden_cam' is forbidden", "policy": "stream-guard"}));

    let sent = payload("publishStream.mixed-case.json");
    let answer = server.hook("publishStream", &sent).await;
    assert_eq!(answer.status, 200);
    let mut expected: Value = serde_json::from_slice(&sent).unwrap();
    expected["name"] = json!("b4e7-cam");
    assert_eq!(answer.json(), expected, "only the name changes");
    let keys: Vec<_> = answer.json().as_object().unwrap().keys().cloned().collect();
    let sent_keys: Vec<_> = expected.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, sent_keys, "field order is kept");

    let sent = payload("publishStream.json");
    let answer = server.hook("publishStream", &sent).await;
    assert_eq!((answer.status, &answer.body), (200, &sent), "allow echoes the received bytes");

    let answer = server.hook("playStream", br#"{"appKey":"defaultApp","name":"forbidden_x"}"#).await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn events_and_unknown_methods_are_echoed_byte_for_byte() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &[]);
    for (method, file) in
        [("StreamStatusEvent", "StreamStatusEvent.json"), ("ConnectionStatusEvent", "ConnectionStatusEvent.json")]
    {
        let sent = payload(file);
        let answer = server.hook(method, &sent).await;
        assert_eq!((answer.status, &answer.body), (200, &sent), "{method}");
    }
    let sent = b"{ \"appKey\" : \"defaultApp\", \"odd\":  [1,2 ,3] }".to_vec();
    let answer = server.hook("StreamsStatEvent", &sent).await;
    assert_eq!((answer.status, &answer.body), (200, &sent));
    // Aliases route like their canonical spelling, and any prefix before the method works.
    let answer = server
        .post(
            "/apps/EchoApp/deep/publishStream",
            &payload("publishStream.forbidden.json"),
            Some("application/json"),
            None,
        )
        .await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn a_deny_on_an_event_is_not_obeyed() {
    let tree = Tree::new();
    tree.tenant(
        "defaultApp",
        r#"
version = 1
[policies.no]
module = "faulty.wasm"
settings = { mode = "deny", status = 403, reason = "nope" }
[methods.StreamStatusEvent]
chain = ["no"]
on_error = "FAIL"
[methods.publishStream]
chain = ["no"]
"#,
        &[("faulty.wasm", "fixtures/faulty")],
    );
    let server = Server::start(&tree, &[]);
    let sent = payload("StreamStatusEvent.json");
    let answer = server.hook("StreamStatusEvent", &sent).await;
    assert_eq!((answer.status, &answer.body), (200, &sent));
    let answer = server.hook("publishStream", &payload("publishStream.json")).await;
    assert_eq!(answer.status, 403, "the same deny stops a direct invocation");
    assert_eq!(answer.json(), json!({"error": "nope", "policy": "no"}));
}

/// The shipped tree trusts no field a client sets: `custom.initiator = "rest-api"` (which a
/// client passes in `publish({custom})`) no longer exempts a forbidden stream from its policy.
#[tokio::test]
async fn a_client_set_rest_api_marker_does_not_bypass_the_shipped_policies() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &[]);
    let sent = payload("publishStream.rest-api.json");
    let answer = server.hook("publishStream", &sent).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json(), json!({"error": "stream name 'forbidden_cam' is forbidden", "policy": "stream-guard"}));
}
