//! Tenant isolation and WCS authentication.

use crate::common::{Server, Tree, with_app_key};
use hmac::{Hmac, Mac};
use serde_json::json;

#[tokio::test]
async fn two_app_keys_with_different_chains_get_different_answers() {
    let tree = Tree::new();
    tree.tenant(
        "strict",
        r#"
version = 1
[policies.guard]
module = "guard.wasm"
settings = { deny = ["forbidden_*", "cam*"], status = 451 }
[methods.publishStream]
chain = ["guard"]
on_error = "FAIL"
overwrite = ["name"]
"#,
        &[("guard.wasm", "rust/stream-guard")],
    )
    .tenant(
        "lenient",
        r#"
version = 1
[policies.guard]
module = "guard.wasm"
settings = { deny = [], normalize = "none" }
[methods.publishStream]
chain = ["guard"]
"#,
        &[("guard.wasm", "rust/stream-guard")],
    )
    .tenant(
        "_default",
        r#"
version = 1
[policies.no]
module = "faulty.wasm"
settings = { mode = "deny", status = 403, reason = "unknown appKey" }
[methods."*"]
chain = ["no"]
"#,
        &[("faulty.wasm", "fixtures/faulty")],
    );
    let server = Server::start(&tree, &[]);

    let answer = server.hook("publishStream", &with_app_key("publishStream.forbidden.json", "strict")).await;
    assert_eq!(answer.status, 451);
    assert_eq!(answer.json()["policy"], "guard");

    let sent = with_app_key("publishStream.forbidden.json", "lenient");
    let answer = server.hook("publishStream", &sent).await;
    assert_eq!((answer.status, &answer.body), (200, &sent));

    let sent = with_app_key("publishStream.mixed-case.json", "lenient");
    let answer = server.hook("publishStream", &sent).await;
    assert_eq!((answer.status, &answer.body), (200, &sent), "lenient does not normalise");

    let answer = server.hook("publishStream", &with_app_key("publishStream.mixed-case.json", "strict")).await;
    assert_eq!(answer.json()["name"], "b4e7-cam");

    let answer = server.hook("publishStream", &with_app_key("publishStream.json", "nobody")).await;
    assert_eq!((answer.status, answer.json()), (403, json!({"error": "unknown appKey", "policy": "no"})));

    // A tenant's folder name is the appKey, exactly: no case folding.
    let answer = server.hook("publishStream", &with_app_key("publishStream.json", "STRICT")).await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn wcs_hmac_signatures_are_checked_per_tenant() {
    let tree = Tree::new();
    tree.tenant(
        "signed",
        r#"
version = 1
[auth]
hmac_key_file = "wcs.key"
"#,
        &[],
    )
    .file("signed/wcs.key", b"1234567890\n")
    .tenant("open", "version = 1\n", &[]);
    let server = Server::start(&tree, &[]);

    let body = with_app_key("publishStream.json", "signed");
    let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(b"1234567890").unwrap();
    mac.update(&body);
    let good = format!("WCS {}", hex::encode(mac.finalize().into_bytes()));
    let json = Some("application/json");

    let answer = server.post("/rest/publishStream", &body, json, Some(&good)).await;
    assert_eq!((answer.status, &answer.body), (200, &body));

    let answer = server.post("/rest/publishStream", &body, json, Some("WCS 00000000000000000000000000000000")).await;
    assert_eq!((answer.status, answer.json()), (403, json!({"error": "invalid WCS signature"})));

    // Missing credentials are 401 (wrong ones 403), for events too.
    let answer = server.post("/rest/StreamStatusEvent", &body, json, None).await;
    assert_eq!(
        (answer.status, answer.json()),
        (401, json!({"error": "missing WCS signature (Authorization: WCS <hmac>)"}))
    );

    let open = with_app_key("publishStream.json", "open");
    let answer = server.post("/rest/publishStream", &open, json, None).await;
    assert_eq!((answer.status, &answer.body), (200, &open), "another tenant is not affected");
}
