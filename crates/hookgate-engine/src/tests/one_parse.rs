//! The request path reads a body once on the allow path, REST-API matchers included.

use crate::hook::PARSES;
use crate::{HookRequest, Services, TenantSet};
use hookgate_config::TenantBounds;
use hookgate_runtime::{Runtime, RuntimeConfig};

/// Body passes over the hook `body` at `method` of a tenant whose manifest is `manifest`, with
/// the answer's status and whether the hook was taken as REST-API-initiated.
async fn passes(manifest: &str, method: &str, body: &str) -> (u32, u16, bool) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(hookgate_config::MANIFEST_FILE), manifest).unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let (tenant, problems) = crate::load_tenant(&runtime, "rooms", dir.path(), &TenantBounds::default()).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let set = TenantSet::new([tenant]);
    let request = HookRequest { method, body: body.as_bytes(), authorization: None, received_ms: 0 };
    PARSES.with(|parses| parses.set(0));
    let decision = set.decide(request, &Services::in_process()).await.unwrap();
    let rest_api = decision.note.is_some_and(|note| note.starts_with("REST-API-initiated"));
    (PARSES.with(std::cell::Cell::get), decision.status, rest_api)
}

const MANIFEST: &str = r#"
version = 1

[[rest_api_initiated]]
field = "nodeId"
equals = "rest-node"

[methods.publishStream]
chain = []
on_error = "FAIL"
"#;

#[tokio::test]
async fn an_allowed_hook_is_parsed_once_with_rest_api_matchers_configured() {
    let matched = r#"{"appKey":"rooms","sessionId":"s","nodeId":"rest-node","name":"a","published":true}"#;
    assert_eq!(passes(MANIFEST, "publishStream", matched).await, (1, 200, true));
    let other = r#"{"appKey":"rooms","sessionId":"s","nodeId":"wcs-1","name":"a","published":true}"#;
    assert_eq!(passes(MANIFEST, "publishStream", other).await, (1, 200, false));
    // A connect's answer needs the whole document (its restClientConfig is added to it).
    assert_eq!(passes(MANIFEST, "connect", r#"{"appKey":"rooms","sessionId":"s"}"#).await, (2, 200, false));
}
