//! Traces: `hookgate serve` with `[tracing]` exports one trace per hook over OTLP/HTTP to a
//! real receiver here, which decodes every request with the official OTLP protobuf definitions
//! (`opentelemetry-proto`).

use crate::common::{Server, Tree, payload};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A chain of two policies: `audit` (logs the payload's values, allows) then `guard`.
const CHAIN: &str = r#"
version = 1
[policies.audit]
module = "audit.wasm"
[policies.guard]
module = "guard.wasm"
settings = { deny = ["forbidden_*"], status = 451 }
[methods.publishStream]
chain = ["audit", "guard"]
on_error = "FAIL"
overwrite = ["name"]
"#;

/// Every value a client chose in the hooks below: none may reach an exported span.
const MARKERS: [&str; 11] = [
    "zqxsession",
    "zqxmedia",
    "zqxname",
    "zqxnode",
    "zqxcustom",
    "zqxheader",
    "zqxauth",
    "zqxstate",
    "zqxappkey",
    "zqxbadparent",
    "zqxbroken",
];

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// What the receiver got: the raw bodies and their decoding.
type Received = Arc<Mutex<Vec<(Bytes, ExportTraceServiceRequest)>>>;

/// An OTLP/HTTP receiver on loopback: `POST /v1/traces` with a protobuf body.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let store = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = Arc::clone(&store);
            async move {
                let content_type = headers.get("content-type").and_then(|value| value.to_str().ok());
                if content_type != Some("application/x-protobuf") {
                    return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new());
                }
                let Ok(request) = ExportTraceServiceRequest::decode(body.clone()) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                store.lock().unwrap().push((body, request));
                (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

/// `publishStream.json` for tenant `acme`, every value a client sets made a marker.
fn marked(n: u32, name: &str, app_key: &str) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(&payload("publishStream.json")).unwrap();
    body["appKey"] = app_key.into();
    body["name"] = name.into();
    body["sessionId"] = format!("/zqxsession{n}:1/2:8443").into();
    body["mediaSessionId"] = format!("zqxmedia{n}").into();
    body["nodeId"] = format!("zqxnode{n}@127.0.0.1").into();
    body["custom"] = serde_json::json!({ "token": format!("zqxcustom{n}") });
    serde_json::to_vec(&body).unwrap()
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        other => format!("{other:?}"),
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|pair| pair.key == key).map(|pair| text(&pair.value))
}

/// One hook's trace, as the test expects it: the root's status, verdict and tenant, and each
/// policy's name and verdict in order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    status: String,
    verdict: Option<String>,
    tenant: Option<String>,
    policies: Vec<(String, String)>,
}

/// `hookgate serve` of tenant `acme` (the two-policy chain), exporting to a new receiver with
/// `sample_ratio`. The tree must outlive the server.
async fn serve_traced(sample_ratio: &str) -> (Tree, Server, Received) {
    let (endpoint, received) = receiver().await;
    let tree = Tree::new();
    tree.tenant("acme", CHAIN, &[("audit.wasm", "rust/audit"), ("guard.wasm", "rust/stream-guard")]);
    let config = tree.path().join("../hookgate.toml");
    let toml = format!(
        "[tracing]\notlp_endpoint = \"{endpoint}\"\nsample_ratio = {sample_ratio}\nservice_name = \"hookgate-e2e\"\n"
    );
    std::fs::write(&config, toml).unwrap();
    let server = Server::start(&tree, &["--config", config.to_str().unwrap()]);
    (tree, server, received)
}

/// SIGTERM: hookgate exports what its batch processor still holds, then exits 0.
async fn stop(server: &mut Server) {
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "hookgate did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(exit.code(), Some(0));
}

/// The trace ids of every exported span.
fn trace_ids(received: &Received) -> std::collections::BTreeSet<String> {
    let received = received.lock().unwrap();
    let resource_spans = received.iter().flat_map(|(_, request)| &request.resource_spans);
    let spans = resource_spans.flat_map(|spans| &spans.scope_spans).flat_map(|scope| &scope.spans);
    spans.map(|span| hex::encode(&span.trace_id)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_keeps_the_ratio_unless_the_traceparent_decided() {
    let (_tree, mut server, received) = serve_traced("0.0").await;
    let url = format!("{}/rest/publishStream", server.base);
    let unsampled = format!("00-{}-{PARENT_ID}-00", "1".repeat(32));
    for traceparent in [None, None, None, Some(format!("00-{TRACE_ID}-{PARENT_ID}-01")), Some(unsampled)] {
        let mut request = server.client().post(&url).header("content-type", "application/json");
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.body(marked(1, "zqxname1", "acme")).send().await.expect("hookgate answers");
        assert_eq!(response.status(), 200);
    }
    stop(&mut server).await;
    // Ratio 0 keeps no new trace; the caller's sampled flag keeps its trace, its unsampled one not.
    assert_eq!(trace_ids(&received), [TRACE_ID.to_owned()].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hook_is_one_trace_with_a_span_per_policy_and_no_client_value() {
    let (_tree, mut server, received) = serve_traced("1.0").await;

    let url = format!("{}/rest/publishStream", server.base);
    let post = |body: Vec<u8>, headers: &[(&str, &str)]| {
        let mut request = server.client().post(&url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.expect("hookgate answers").status().as_u16() }
    };
    let client_headers = [("x-zqx", "zqxheader"), ("authorization", "Bearer zqxauth")];
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let statuses = [
        post(marked(1, "zqxname1", "acme"), &client_headers).await,
        post(marked(2, "zqxname2", "acme"), &[("traceparent", &traceparent), ("tracestate", "zqx=zqxstate")]).await,
        post(marked(3, "zqxname3", "acme"), &[("traceparent", "00-zqxbadparent-00f067aa0ba902b7-01")]).await,
        post(marked(4, "forbidden_zqxname4", "acme"), &client_headers).await,
        post(marked(5, "zqxname5", "zqxappkey5"), &client_headers).await,
        post(br#"{"name": "zqxbroken" "#.to_vec(), &client_headers).await,
    ];
    assert_eq!(statuses, [200, 200, 200, 451, 403, 400]);

    stop(&mut server).await;

    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "no OTLP request reached the receiver");
    let mut spans: Vec<Span> = Vec::new();
    for (raw, request) in received.iter() {
        // No client value anywhere: not in an attribute, event, link, status, trace state,
        // resource or scope (the whole decoded request), nor in the raw protobuf bytes.
        let decoded = format!("{request:?}");
        for marker in MARKERS {
            assert!(!decoded.contains(marker), "{marker} exported: {decoded}");
            assert!(!raw.windows(marker.len()).any(|window| window == marker.as_bytes()), "{marker} in the bytes");
        }
        for resource_spans in &request.resource_spans {
            let resource = resource_spans.resource.as_ref().expect("a resource");
            assert_eq!(attribute(&resource.attributes, "service.name").as_deref(), Some("hookgate-e2e"));
            for scope_spans in &resource_spans.scope_spans {
                spans.extend(scope_spans.spans.iter().cloned());
            }
        }
    }

    let mut traces: BTreeMap<Vec<u8>, Vec<Span>> = BTreeMap::new();
    for span in spans {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    assert_eq!(traces.len(), statuses.len(), "one trace per hook: {:?}", traces.values().collect::<Vec<_>>());
    let mut shapes = Vec::new();
    let mut joined = 0;
    for (trace_id, mut spans) in traces {
        spans.sort_by_key(|span| span.start_time_unix_nano);
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
        let roots: Vec<&Span> = spans.iter().filter(|span| span.name == "hook").collect();
        assert_eq!(roots.len(), 1, "one root per trace: {names:?}");
        let root = roots[0];
        // Every other span hangs from a span of the same trace: one tree under the root.
        for span in &spans {
            if span.name != "hook" {
                assert!(spans.iter().any(|parent| parent.span_id == span.parent_span_id), "{} is orphaned", span.name);
            }
        }
        if root.parent_span_id.is_empty() {
            assert!(spans.iter().all(|span| span.trace_state.is_empty()));
        } else {
            // The hook that carried a valid traceparent joined that trace, under that span.
            assert_eq!(
                (hex::encode(&trace_id), hex::encode(&root.parent_span_id)),
                (TRACE_ID.into(), PARENT_ID.into())
            );
            joined += 1;
        }
        assert_eq!(attribute(&root.attributes, "hookgate.method").as_deref(), Some("publishStream"));
        let decide = spans.iter().find(|span| span.name == "decide").expect("a decide span");
        assert_eq!(decide.parent_span_id, root.span_id, "{names:?}");
        let mut policies = Vec::new();
        for span in spans.iter().filter(|span| span.name == "policy") {
            assert_eq!(span.parent_span_id, decide.span_id, "a policy span hangs from decide");
            assert!(attribute(&span.attributes, "hookgate.duration_us").is_some());
            let policy = attribute(&span.attributes, "hookgate.policy").expect("the policy name");
            policies.push((policy, attribute(&span.attributes, "hookgate.verdict").expect("its verdict")));
        }
        let status = attribute(&root.attributes, "http.response.status_code").expect("the status");
        if status != "400" {
            let answer = spans.iter().find(|span| span.name == "effects").expect("an effects span");
            assert_eq!(answer.parent_span_id, root.span_id);
        }
        shapes.push(Shape {
            status,
            verdict: attribute(&root.attributes, "hookgate.verdict"),
            tenant: attribute(&root.attributes, "hookgate.tenant"),
            policies,
        });
    }
    assert_eq!(joined, 1, "only the valid traceparent is honoured");

    let allowed = || Shape {
        status: "200".into(),
        verdict: Some("allow".into()),
        tenant: Some("acme".into()),
        policies: vec![("audit".into(), "allow".into()), ("guard".into(), "allow".into())],
    };
    let mut expected = vec![
        allowed(),
        allowed(),
        allowed(),
        Shape {
            status: "451".into(),
            verdict: Some("deny".into()),
            tenant: Some("acme".into()),
            policies: vec![("audit".into(), "allow".into()), ("guard".into(), "deny".into())],
        },
        // Unrouted: a fixed tenant value, never the client's appKey.
        Shape {
            status: "403".into(),
            verdict: Some("fallback".into()),
            tenant: Some(hookgate_server::NO_TENANT.into()),
            policies: vec![],
        },
        Shape { status: "400".into(), verdict: None, tenant: None, policies: vec![] },
    ];
    expected.sort();
    shapes.sort();
    assert_eq!(shapes, expected);
}
