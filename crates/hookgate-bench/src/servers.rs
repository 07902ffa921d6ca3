//! The in-process peers (the axum echo, the native rule, the rule in Rego), each served by `hookgate-bench serve-…` in its own process, on a
//! tokio runtime of the same shape as hookgate's (multi-thread, default worker count) and with
//! the same `axum::serve`.

use crate::{native, rego};
use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use regorus::CompiledPolicy;
use tokio::net::TcpListener;

/// What `serve` prints on stdout once the listener is bound, followed by `http://ADDR`.
pub(crate) const READY_PREFIX: &str = "hookgate-bench listening: http://";

/// Largest accepted body, as hookgate's default `--body-limit`.
const BODY_LIMIT: usize = 1 << 20;

/// Arguments of `serve-echo`, `serve-native` and `serve-rego`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
}

/// A baseline server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Baseline {
    /// Every `POST /{*path}` answered 200 with the received body.
    Echo,
    /// The stream-guard rule compiled natively ([`native::decide`]).
    Native,
    /// The stream-guard rule in Rego, evaluated by regorus ([`rego::decide`]).
    Rego,
}

/// Serves `baseline` on `args.listen` until the process is killed.
pub(crate) fn serve(baseline: Baseline, args: &ServeArgs) -> Result<()> {
    let routes = router(baseline)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener =
            TcpListener::bind(&args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr().context("cannot read the bound address")?;
        println!("{READY_PREFIX}{addr}");
        axum::serve(listener, routes).await.context("server failed")
    })
}

/// The routes of `baseline` (the Rego policy is compiled here, once).
fn router(baseline: Baseline) -> Result<Router> {
    let routes = match baseline {
        Baseline::Echo => Router::new().route("/{*path}", post(echo)),
        Baseline::Native => Router::new().route("/{*path}", post(native_rule)),
        Baseline::Rego => Router::new().route("/{*path}", post(rego_rule)).with_state(rego::compile()?),
    };
    Ok(routes.layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// The HTTP floor: 200 with the received body.
async fn echo(body: Bytes) -> Response {
    json_response(StatusCode::OK, body)
}

/// The policy-engine floor: content type checked, body parsed, rule applied.
async fn native_rule(Path(path): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    hook_answer(&path, &headers, body, native::decide)
}

/// The rule in Rego: content type checked, the hook evaluated by the shared compiled policy.
async fn rego_rule(
    State(policy): State<CompiledPolicy>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hook_answer(&path, &headers, body, |method, body| rego::decide(&policy, method, body))
}

/// Answers the hook `body` POSTed to `path` with what `decide` decides for its method (the last
/// path segment); 415 unless it is `application/json`.
fn hook_answer(
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    decide: impl FnOnce(&str, &[u8]) -> native::Decision,
) -> Response {
    let json = headers.get(header::CONTENT_TYPE).is_some_and(|value| native::is_json_content_type(value.as_bytes()));
    if !json {
        return json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, r#"{"error":"hooks must be application/json"}"#);
    }
    let method = path.rsplit('/').next().unwrap_or_default();
    let decision = decide(method, &body);
    let status = StatusCode::from_u16(decision.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match decision.body {
        native::Body::Echo => json_response(status, body),
        native::Body::Json(bytes) => json_response(status, bytes),
    }
}

/// A response with a JSON body.
fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;
    use std::net::SocketAddr;

    /// The shipped publishStream payload.
    fn payload() -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/payloads/publishStream.json");
        std::fs::read(path).expect("the shipped payload")
    }

    /// Serves `baseline` on a free loopback port from a thread of its own.
    fn spawn(baseline: Baseline) -> SocketAddr {
        let routes = router(baseline).expect("routes");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("address");
        listener.set_nonblocking(true).expect("non-blocking");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                axum::serve(listener, routes).await.expect("serves");
            });
        });
        addr
    }

    #[test]
    fn the_native_and_rego_servers_answer_every_probe_as_the_native_rule() {
        for baseline in [Baseline::Native, Baseline::Rego] {
            let addr = spawn(baseline);
            checks::check_rule(addr, "/rest/publishStream", "publishStream", &payload())
                .unwrap_or_else(|err| panic!("{baseline:?}: {err:#}"));
            checks::check_rule(addr, "/rest/playStream", "playStream", &payload())
                .unwrap_or_else(|err| panic!("{baseline:?}: {err:#}"));
        }
    }

    #[test]
    fn the_echo_echoes_and_fails_the_rule_probes() {
        let addr = spawn(Baseline::Echo);
        checks::check_echo(addr, "/rest/publishStream", &payload()).expect("echoes");
        assert!(checks::check_rule(addr, "/rest/publishStream", "publishStream", &payload()).is_err());
    }

    #[test]
    fn servers_refuse_other_content_types() {
        let addr = spawn(Baseline::Rego);
        let mut stream = std::net::TcpStream::connect(addr).expect("connects");
        let request = "POST /rest/publishStream HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
                       Content-Length: 2\r\nConnection: close\r\n\r\n{}";
        std::io::Write::write_all(&mut stream, request.as_bytes()).expect("sends");
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).expect("reads");
        assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    }
}
