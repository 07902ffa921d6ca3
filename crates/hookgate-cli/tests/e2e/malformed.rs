//! Malformed input: each case gets its precise 4xx, and the server keeps serving.

use crate::common::{Server, Tree, payload};
use serde_json::json;

#[tokio::test]
async fn each_malformed_request_gets_its_precise_error() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &["--body-limit", "4096"]);
    let json = Some("application/json");

    let answer = server.post("/rest/publishStream", b"{\"appKey\": ", json, None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"error": "body is not valid JSON: EOF while parsing a value at line 1 column 11"})
    );

    let answer = server.post("/rest/publishStream", b"[1,2,3]", json, None).await;
    assert_eq!((answer.status, answer.json()), (400, json!({"error": "body must be a JSON object"})));

    let answer = server.post("/rest/publishStream", b"\"text\"", json, None).await;
    assert_eq!((answer.status, answer.json()), (400, json!({"error": "body must be a JSON object"})));

    let answer = server.post("/rest/publishStream", b"{\"a\":\"\xff\"}", json, None).await;
    assert_eq!(
        (answer.status, answer.json()),
        (400, json!({"error": "body is not valid UTF-8 (invalid byte at offset 6)"}))
    );

    let big = format!("{{\"appKey\":\"defaultApp\",\"pad\":\"{}\"}}", "x".repeat(5000));
    let answer = server.post("/rest/publishStream", big.as_bytes(), json, None).await;
    assert_eq!((answer.status, answer.json()), (413, json!({"error": "body exceeds the limit of 4096 bytes"})));

    let answer = server.post("/rest/publishStream", &payload("publishStream.json"), Some("text/plain"), None).await;
    assert_eq!(answer.status, 415);
    assert_eq!(
        answer.json(),
        json!({"error": "unsupported content type 'text/plain': hooks must be sent as application/json"})
    );

    let answer = server.post("/rest/publishStream", &payload("publishStream.json"), None, None).await;
    assert_eq!(answer.status, 415);
    assert_eq!(
        answer.json(),
        json!({"error": "unsupported content type 'none': hooks must be sent as application/json"})
    );

    let answer = server.post("/", b"{}", json, None).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"error": "no method in the path: hooks are POST /{prefix…}/{method}"}));

    let answer = server.post("/rest/", b"{}", json, None).await;
    assert_eq!(answer.status, 404);

    // Still serving, and the answers carry the JSON content type.
    let sent = payload("publishStream.json");
    let answer = server.hook("publishStream", &sent).await;
    assert_eq!((answer.status, &answer.body), (200, &sent));
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn health_endpoints_answer() {
    let tree = Tree::shipped();
    let server = Server::start(&tree, &[]);
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let response = client.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}
