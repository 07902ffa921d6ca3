//! The capabilities a manifest grants: `state` quotas that follow WCS sessions and survive
//! retries, and the refusal of a module that imports a capability it is not granted.

use crate::common::{Server, Tree};
use serde_json::json;

pub const QUOTA: &str = r#"
version = 1
[policies.quota]
module = "quota.wasm"
settings = { max_publishers = 2 }
capabilities = ["state"]
[methods.publishStream]
chain = ["quota"]
on_error = "FAIL"
[methods.StreamStatusEvent]
chain = ["quota"]
on_error = "LOG"
[methods.ConnectionStatusEvent]
chain = ["quota"]
on_error = "LOG"
"#;

/// A publishStream body. Each publish attempt has its own `mediaSessionId`, as in WCS; a
/// retried delivery repeats the body byte for byte.
pub fn publish(session: &str, name: &str, attempt: u32) -> Vec<u8> {
    json!({"appKey": "rooms", "sessionId": session, "mediaSessionId": format!("m-{session}-{name}-{attempt}"),
           "name": name, "published": true, "status": "NEW"})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn publisher_quota_counts_once_per_delivery_and_releases_on_unpublish_and_disconnect() {
    let tree = Tree::new();
    tree.tenant("rooms", QUOTA, &[("quota.wasm", "rust/publisher-quota")]);
    let server = Server::start(&tree, &[]);
    let status = async |body: Vec<u8>| server.hook("publishStream", &body).await.status;

    assert_eq!(status(publish("s1", "a", 1)).await, 200);
    // WCS retries a hook it got no answer to: the same delivery again does not take a slot.
    assert_eq!(status(publish("s1", "a", 1)).await, 200, "the retried delivery is answered as the first");
    assert_eq!(status(publish("s2", "b", 2)).await, 200, "the retry did not count twice");
    let refused = server.hook("publishStream", &publish("s3", "c", 3)).await;
    assert_eq!(
        (refused.status, refused.json()),
        (403, json!({"error": "publisher quota reached: 2 of 2 publishers", "policy": "quota"}))
    );
    assert_eq!(status(publish("s3", "c", 3)).await, 403, "a retried refusal is refused again");
    let taken = server.hook("publishStream", &publish("s4", "a", 4)).await;
    assert_eq!(taken.json()["error"], "stream name 'a' is already being published");

    // UNPUBLISHED releases s1's slot and name.
    let unpublished = json!({"appKey": "rooms", "sessionId": "s1", "name": "a", "published": true,
                             "status": "UNPUBLISHED"});
    let event = server.hook("StreamStatusEvent", unpublished.to_string().as_bytes()).await;
    assert_eq!(event.status, 200);
    server.hook("StreamStatusEvent", unpublished.to_string().as_bytes()).await;
    assert_eq!(status(publish("s3", "c", 5)).await, 200, "slot released on UNPUBLISHED");
    assert_eq!(status(publish("s5", "e", 6)).await, 403, "and only one: the retried event released once");

    // DISCONNECTED releases everything s2 holds; hookgate then drops the session's keys.
    let gone = json!({"appKey": "rooms", "sessionId": "s2", "status": "DISCONNECTED"});
    assert_eq!(server.hook("ConnectionStatusEvent", gone.to_string().as_bytes()).await.status, 200);
    assert_eq!(status(publish("s4", "b", 7)).await, 200, "slot and name released on DISCONNECTED");
    assert_eq!(status(publish("s5", "e", 8)).await, 403);
}

#[tokio::test]
async fn a_module_importing_a_capability_it_is_not_granted_is_refused_naming_it() {
    let tree = Tree::new();
    tree.tenant("rooms", &QUOTA.replace("capabilities = [\"state\"]\n", ""), &[("quota.wasm", "rust/publisher-quota")]);
    let server = Server::start(&tree, &[]);
    let answer = server.hook("publishStream", &publish("s1", "a", 9)).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.json()["error"],
        "policy 'quota' is not loaded: the module imports hookgate:policy/state, a capability this policy is \
         not granted (add capabilities = [\"state\"] to [policies.quota] to grant it)"
    );
}
