//! The edges of the process (issue 13): connections bounded in time and in number, the admin
//! listener's Host, Origin and token checks, the compile cache's permissions, and log lines
//! that clients can neither flood nor forge. The real binary, raw HTTP over loopback sockets.

use crate::common::{Tree, hookgate_bin, payload};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `hookgate serve` started with a config file, its stderr kept in a file; killed on drop.
struct Hookgate {
    child: Child,
    /// `127.0.0.1:PORT` of the hook listener.
    hooks: String,
    /// `127.0.0.1:PORT` of the admin listener.
    admin: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

/// The `hookgate serve` command for `tree`, with `config` as its hookgate.toml (in a temporary
/// folder, with `files` beside it), the admin listener on a free loopback port, and stderr
/// written to `<folder>/stderr`.
fn command(tree: &Tree, config: &str, files: &[(&str, &str)], log: &str) -> (Command, tempfile::TempDir) {
    command_with_admin(tree, "127.0.0.1:0", config, files, log)
}

/// [`command`] with the admin listener on `admin`.
fn command_with_admin(
    tree: &Tree,
    admin: &str,
    config: &str,
    files: &[(&str, &str)],
    log: &str,
) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hookgate.toml"), config).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let mut command = Command::new(hookgate_bin());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen", admin, "--config"])
        .arg(dir.path().join("hookgate.toml"))
        .arg("--policies")
        .arg(tree.path())
        .env("HOOKGATE_LOG", log)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
    (command, dir)
}

impl Hookgate {
    fn start(tree: &Tree, config: &str, files: &[(&str, &str)], log: &str) -> Hookgate {
        let (command, dir) = command(tree, config, files, log);
        Hookgate::spawn(command, dir)
    }

    fn spawn(mut command: Command, dir: tempfile::TempDir) -> Hookgate {
        let mut child = command.spawn().expect("spawn hookgate serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stderr = dir.path().join("stderr");
        let mut read = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read stdout");
            let started = line.trim().strip_prefix(prefix).map(str::to_owned);
            started.unwrap_or_else(|| {
                panic!("hookgate did not start: {line:?}\n{}", std::fs::read_to_string(&stderr).unwrap_or_default())
            })
        };
        let hooks = read("hookgate listening: hooks=http://");
        let admin = read("hookgate listening: admin=http://");
        Hookgate { child, hooks, admin, stderr, _dir: dir }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    /// One request to the admin listener (`Host` is the listener's address unless given):
    /// status, raw head and body.
    fn admin(&self, request_line: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut request = format!("{request_line} HTTP/1.1\r\n");
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("Host: {}\r\n", self.admin));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
        let (answer, _) = exchange(&self.admin, request.as_bytes(), Duration::from_secs(10));
        split(&answer)
    }

    /// `(generation, reloads ok)` of a tenant, read with the admin `token`.
    fn reloads(&self, tenant: &str, token: Option<&str>) -> (u64, u64) {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|bearer| ("Authorization", bearer.as_str())).collect();
        let (status, _, body) = self.admin("GET /api/policies", &headers);
        assert_eq!(status, 200, "{body}");
        let all: serde_json::Value = serde_json::from_str(&body).unwrap();
        let entry = all["tenants"].as_array().unwrap().iter().find(|entry| entry["tenant"] == tenant).unwrap();
        (entry["generation"].as_u64().unwrap(), entry["reloads"]["ok"].as_u64().unwrap())
    }
}

impl Drop for Hookgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` on a new connection and reads until the server closes it: the answer and
/// how long the server kept the connection. Panics if it is still open after `wait`.
fn exchange(address: &str, request: &[u8], wait: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(wait)).unwrap();
    let started = Instant::now();
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    if let Err(err) = stream.read_to_end(&mut answer)
        && err.kind() != std::io::ErrorKind::ConnectionReset
    {
        panic!(
            "the connection was still open after {wait:?} ({err}); read so far: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

/// Status, head and body of a raw HTTP/1.1 answer.
fn split(answer: &str) -> (u16, String, String) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (head[9..12].parse().unwrap(), head.to_ascii_lowercase(), body.to_owned())
}

/// A hook request on its own connection.
fn hook_request(method: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /rest/{method} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[test]
fn silent_idle_and_h2c_connections_are_closed_in_time() {
    let tree = Tree::shipped();
    let config = "header_read_timeout_ms = 400\n[hooks]\nidle_timeout_ms = 600\n[admin]\nidle_timeout_ms = 600\n";
    let server = Hookgate::start(&tree, config, &[], "off");
    let wait = Duration::from_secs(5);
    for address in [&server.hooks, &server.admin] {
        // A connection that never sends a byte is closed after the header timeout.
        let (answer, held) = exchange(address, b"", wait);
        assert_eq!(answer, "", "{address}");
        assert!(held >= Duration::from_millis(300) && held < Duration::from_secs(2), "{address}: held {held:?}");

        // A keep-alive connection idle after its answer is closed as well.
        let mut stream = TcpStream::connect(address.as_str()).unwrap();
        stream.set_read_timeout(Some(wait)).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("closed after the idle keep-alive");
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(2), "{address}: held {:?}", started.elapsed());

        // An h2c client (prior knowledge): its preface and SETTINGS get no HTTP/2 frame back,
        // and the connection is closed at once (hookgate speaks HTTP/1.1 only).
        let mut h2c = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        h2c.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let (answer, held) = exchange(address, &h2c, wait);
        assert_eq!(answer, "", "{address}");
        assert!(held < Duration::from_millis(300), "{address}: h2c held {held:?}");
    }
    // Still serving.
    let (answer, _) = exchange(&server.hooks, &hook_request("publishStream", &payload("publishStream.json")), wait);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_client_that_stops_reading_its_answers_is_closed_after_the_idle_timeout() {
    let tree = Tree::shipped();
    let config = "[hooks]\nidle_timeout_ms = 700\nmax_connections = 1\n";
    let server = Hookgate::start(&tree, config, &[], "off");

    // Pipelined hooks whose echoed answers (25 MB) the client never reads: once the socket
    // buffers are full no byte moves, and the connection (the only one allowed) is closed.
    let mut body: serde_json::Value = serde_json::from_slice(&payload("publishStream.json")).unwrap();
    body["padding"] = serde_json::Value::String("p".repeat(64 * 1024));
    let request = hook_request("publishStream", &serde_json::to_vec(&body).unwrap());
    let request = String::from_utf8(request).unwrap().replace("Connection: close\r\n", "");
    let stuck = TcpStream::connect(&server.hooks).unwrap();
    let mut writer = stuck.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let sending = std::thread::spawn(move || {
        for _ in 0..400 {
            if writer.write_all(request.as_bytes()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let (answer, _) = exchange(&server.hooks, &hook_request("publishStream", b"{}"), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "the stuck connection holds the only slot: {answer}");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (answer, _) = exchange(
            &server.hooks,
            &hook_request("publishStream", &payload("publishStream.json")),
            Duration::from_secs(5),
        );
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the stuck connection was never closed: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    sending.join().unwrap();
    drop(stuck);
}

#[test]
fn past_max_connections_a_hook_gets_a_clean_503_and_is_served_again_once_idle_ones_close() {
    let tree = Tree::shipped();
    let config = "header_read_timeout_ms = 3000\n[hooks]\nmax_connections = 100\n";
    // A low descriptor limit, as on a host with a small `ulimit -n`.
    let (command, dir) = command(&tree, config, &[], "off");
    let mut limited = Command::new("sh");
    limited.args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\""]).arg(command.get_program()).args(command.get_args());
    limited.envs(command.get_envs().filter_map(|(key, value)| Some((key, value?))));
    limited.stdout(Stdio::piped()).stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
    drop(command);
    let server = Hookgate::spawn(limited, dir);

    let idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(&server.hooks).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    // Past the cap: a complete 503 at once, not a timeout, and the connection closed.
    let body = payload("publishStream.json");
    let refused = r#"{"error":"too many connections: hookgate is at its connection limit, retry"}"#;
    for _ in 0..50 {
        let (answer, took) = exchange(&server.hooks, &hook_request("publishStream", &body), Duration::from_secs(5));
        let (status, head, text) = split(&answer);
        assert_eq!((status, text.trim_end()), (503, refused), "{answer}");
        assert!(head.contains("connection: close") && head.contains("content-type: application/json"), "{head}");
        assert!(took < Duration::from_secs(1), "refused in {took:?}");
    }
    let (_, _, metrics) = server.admin("GET /metrics", &[]);
    assert!(metrics.contains("hookgate_connections_refused_total{listener=\"hooks\"} 50\n"), "{metrics}");
    assert!(metrics.contains("hookgate_connections_refused_total{listener=\"admin\"} 0\n"), "{metrics}");

    // The idle connections are closed by the header timeout; hooks are answered again.
    for mut stream in idle {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("closed by the server");
        assert!(rest.is_empty());
    }
    let (answer, _) = exchange(&server.hooks, &hook_request("publishStream", &body), Duration::from_secs(5));
    let (status, _, text) = split(&answer);
    assert_eq!((status, text.as_bytes()), (200, body.as_slice()));
}

#[test]
fn the_admin_listener_checks_host_origin_and_token() {
    let tree = Tree::shipped();
    let token = "kq3V0-admin-token-7f2c";
    let config = "[admin]\ntoken_file = \"admin.token\"\nallowed_hosts = [\"hookgate.internal\"]\n";
    let server = Hookgate::start(&tree, config, &[("admin.token", &format!("{token}\nignored line\n"))], "off");
    let bearer = format!("Bearer {token}");
    let auth = ("Authorization", bearer.as_str());
    let before = server.reloads("defaultApp", Some(token));
    assert_eq!(before, (1, 1));

    // Health needs nothing.
    let (status, _, body) = server.admin("GET /healthz", &[]);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    // The token: missing, wrong, right.
    let missing = r#"{"error":"missing bearer token: the admin API needs Authorization: Bearer <the token of [admin] token_file>"}"#;
    let wrong = r#"{"error":"wrong bearer token for the admin API"}"#;
    for path in ["GET /api/policies", "GET /metrics", "GET /readyz", "POST /api/reload"] {
        let (status, head, body) = server.admin(path, &[]);
        assert_eq!((status, body.as_str()), (401, missing), "{path}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        let (status, _, body) = server.admin(path, &[("Authorization", "Bearer kq3V0-admin-token-7f2d")]);
        assert_eq!((status, body.as_str()), (401, wrong), "{path}");
        let (status, _, body) = server.admin(path, &[("Authorization", "Basic a3EzVjA=")]);
        assert_eq!((status, body.as_str()), (401, missing), "{path}");
    }
    let (status, _, body) = server.admin("GET /api/policies", &[auth]);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(token));

    // The Host: loopback names and the allowed ones, with any port; nothing else.
    for host in ["localhost", "localhost:1", "127.0.0.1:9", "[::1]:80", "[::1]", "HookGate.Internal:8443"] {
        let (status, _, body) = server.admin("GET /api/policies", &[auth, ("Host", host)]);
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "hookgate.internal.evil", "[::2]:80", ""]
    {
        let (status, _, body) = server.admin("GET /api/policies", &[auth, ("Host", host)]);
        let expected = format!(
            r#"{{"error":"host '{host}' is not this admin listener: use localhost, 127.0.0.1 or [::1], or list the name in [admin] allowed_hosts"}}"#
        );
        assert_eq!((status, body), (421, expected), "{host}");
    }

    // Web pages of other origins, even with the token (a browser may hold it in no header,
    // but a rebinding page reuses the Host): refused, and no reload happens.
    let own = format!("http://{}", server.admin);
    for request in ["GET /api/policies", "POST /api/reload"] {
        for (header, value, shown) in [
            ("Origin", "http://evil.example", "Origin: http://evil.example"),
            ("Origin", "null", "Origin: null"),
            ("Origin", "http://localhost:1", "Origin: http://localhost:1"),
            ("Sec-Fetch-Site", "cross-site", "Sec-Fetch-Site: cross-site"),
            ("Sec-Fetch-Site", "same-site", "Sec-Fetch-Site: same-site"),
        ] {
            let (status, _, body) =
                server.admin(request, &[auth, (header, value), ("Content-Type", "application/json")]);
            let expected = format!(
                r#"{{"error":"cross-origin request refused ({shown}): the admin API answers no web page of another origin"}}"#
            );
            assert_eq!((status, body), (403, expected), "{request} {header}: {value}");
        }
        let (status, _, body) = server.admin(request, &[auth, ("Origin", &own), ("Sec-Fetch-Site", "same-origin")]);
        assert_eq!(status, 200, "{request} from its own origin: {body}");
        if request.starts_with("POST") {
            assert_eq!(server.reloads("defaultApp", Some(token)), (2, 2), "the one accepted reload");
        } else {
            assert_eq!(server.reloads("defaultApp", Some(token)), before, "no refused request reloaded");
        }
    }
}

#[test]
fn without_a_token_reload_needs_json_and_the_admin_listener_stays_on_loopback() {
    let tree = Tree::shipped();
    let server = Hookgate::start(&tree, "", &[], "off");
    let refused = r#"{"error":"POST /api/reload needs Content-Type: application/json (or the admin bearer token)"}"#;
    for content_type in
        [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x")]
    {
        let headers: Vec<(&str, &str)> = content_type.iter().map(|value| ("Content-Type", *value)).collect();
        let (status, _, body) = server.admin("POST /api/reload", &headers);
        assert_eq!((status, body.as_str()), (415, refused), "{content_type:?}");
    }
    assert_eq!(server.reloads("defaultApp", None), (1, 1), "no reload happened");
    let (status, _, body) = server.admin("POST /api/reload", &[("Content-Type", "application/json")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.reloads("defaultApp", None), (2, 2));
    let (status, _, _) = server.admin("GET /api/policies", &[("Host", "rebound.example:8080")]);
    assert_eq!(status, 421);
    drop(server);

    // A non-loopback admin address without a token: refused at start.
    let out = Command::new(hookgate_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0", "--policies"])
        .arg(tree.path())
        .env("HOOKGATE_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is not on a loopback address and has no token: anyone who can reach it could read /api/policies and force reloads; set [admin] token_file"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("admin="), "the admin listener never served");

    // With a token it starts.
    let config = "[admin]\ntoken_file = \"t\"\n";
    let (command, dir) = command_with_admin(&tree, "0.0.0.0:0", config, &[("t", "a-long-enough-token\n")], "off");
    let server = Hookgate::spawn(command, dir);
    assert!(server.admin.starts_with("0.0.0.0:"), "{}", server.admin);
}

#[test]
fn the_compile_cache_directory_is_created_private_and_a_shared_one_refused() {
    let tree = Tree::shipped();
    let root = tempfile::tempdir().unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;

    let fresh = root.path().join("fresh/cache");
    let (mut command, dir) = command(&tree, "", &[], "off");
    command.arg("--cache-dir").arg(&fresh);
    let server = Hookgate::spawn(command, dir);
    assert_eq!((mode(&root.path().join("fresh")), mode(&fresh)), (0o700, 0o700));
    assert!(std::fs::read_dir(&fresh).unwrap().next().is_some(), "the cache is in use");
    drop(server);

    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new(hookgate_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
        .arg(tree.path())
        .arg("--cache-dir")
        .arg(&shared)
        .env("HOOKGATE_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hookgate listening"));
    let expected = format!(
        "cannot start the wasm engine: refusing {0} as the compiled-module cache: {0} is writable by group and others (mode 0777): whoever can write there can make hookgate run their native code; chmod 700 {0}, or use another cache_dir, or cache_dir = \"off\"",
        shared.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0, "nothing was written there");
}

#[test]
fn refused_requests_and_policy_lines_cannot_flood_or_forge_the_log() {
    let tree = Tree::shipped();
    let server = Hookgate::start(&tree, "", &[], "info");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/rest/publishStream", server.hooks);
    let content_type = format!("text/{}", "x".repeat(60_000));
    let shown = format!("text/{}…", "x".repeat(123));
    let expected =
        format!(r#"{{"error":"unsupported content type '{shown}': hooks must be sent as application/json"}}"#);
    runtime.block_on(async {
        for _ in 0..1_000 {
            let response = client
                .post(&url)
                .header("content-type", &content_type)
                .body(payload("publishStream.json"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 415);
            assert_eq!(response.text().await.unwrap(), expected, "the answer carries the value cut");
        }
        // One more after a pause: its line says how many were held back.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let response = client.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 415);
        // A client value with a line break in a policy's log line (the audit policy logs the
        // stream name of every StreamStatusEvent).
        let mut event: serde_json::Value = serde_json::from_slice(&payload("StreamStatusEvent.json")).unwrap();
        event["name"] = "cam1\n2026-12-06T00:00:00.000000Z ERROR hookgate: forged line\r".into();
        let url = format!("http://{}/rest/StreamStatusEvent", server.hooks);
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&event).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    });
    // The audit line is written after the answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains("cam1\\n2026") {
        assert!(Instant::now() < deadline, "the audit line never came:\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = server.stderr();
    assert!(stderr.len() < 64 * 1024, "1,000 refused requests wrote {} bytes of log", stderr.len());
    assert!(!stderr.contains(&"x".repeat(200)), "a client value was logged whole");
    assert!(stderr.contains(&format!("refused request: unsupported content type '{shown}'")), "{stderr}");
    // Every refused request is either logged or counted in the next line logged.
    let refused: Vec<&str> = stderr.lines().filter(|line| line.contains("refused request")).collect();
    let counted: u64 = refused.iter().map(|line| held_back(line)).sum();
    assert_eq!(refused.len() as u64 + counted, 1_001, "{stderr}");
    assert!(refused.len() < 20, "{stderr}");
    assert!(stderr.contains("name=cam1\\n2026-12-06T00:00:00.000000Z ERROR hookgate: forged line\\r"), "{stderr}");
    for line in stderr.lines() {
        assert!(!line.starts_with("2026-12-06T00:00:00"), "a forged line: {line}");
        assert!(!line.contains('\r'), "a raw carriage return: {line:?}");
    }
}

/// The `held_back=N` count of a text log line.
fn held_back(line: &str) -> u64 {
    let count = line.rsplit_once("held_back=").unwrap_or_else(|| panic!("no held_back in {line}")).1;
    count.split(' ').next().unwrap().parse().unwrap()
}

/// A tenant whose policy fails on every hook: its chain-failure warnings are budgeted per
/// tenant (10 lines a second, the rest counted in the next line's `held_back`), so it neither
/// floods the log nor uses up the lines of another tenant, whose first failure is logged at once.
#[test]
fn a_failing_tenant_neither_floods_the_log_nor_silences_another() {
    let tree = Tree::new();
    let manifest = r#"
version = 1
[policies.bad]
module = "faulty.wasm"
settings = { mode = "error" }
[methods.publishStream]
chain = ["bad"]
on_error = "FAIL"
"#;
    for tenant in ["noisyApp", "quietApp"] {
        tree.tenant(tenant, manifest, &[("faulty.wasm", "fixtures/faulty")]);
    }
    let server = Hookgate::start(&tree, "", &[], "info");
    let url = format!("http://{}/rest/publishStream", server.hooks);
    let post = move |client: reqwest::Client, app_key: &'static str| {
        let url = url.clone();
        async move {
            let body = crate::common::with_app_key("publishStream.json", app_key);
            let response =
                client.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 403, "on_error = FAIL");
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let senders: Vec<_> = (0..8)
            .map(|_| {
                let (client, post) = (client.clone(), post.clone());
                tokio::spawn(async move {
                    for _ in 0..125 {
                        post(client.clone(), "noisyApp").await;
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        // The other tenant fails once, right after the flood.
        post(client.clone(), "quietApp").await;
        // One more for the noisy tenant once its budget has refilled: its line carries the rest.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        post(client, "noisyApp").await;
    });
    let elapsed = started.elapsed().as_secs_f64();
    let failures = |tenant: &str, stderr: &str| -> Vec<String> {
        let tag = format!("tenant={tenant} ");
        stderr.lines().filter(|line| line.contains("asked to fail") && line.contains(&tag)).map(str::to_owned).collect()
    };
    // The failure line is written before the answer, but stderr is read through a file.
    let deadline = Instant::now() + Duration::from_secs(5);
    let stderr = loop {
        let stderr = server.stderr();
        let noisy = failures("noisyApp", &stderr);
        if noisy.iter().map(|line| held_back(line)).sum::<u64>() + noisy.len() as u64 == 1_001 {
            break stderr;
        }
        assert!(Instant::now() < deadline, "1,001 failures are not all logged or counted:\n{stderr}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let noisy = failures("noisyApp", &stderr);
    assert!(noisy.len() as f64 <= 10.0 * (elapsed.ceil() + 1.0), "{} lines in {elapsed:.1} s", noisy.len());
    assert!(noisy.iter().any(|line| held_back(line) > 0), "the budget held nothing back in {elapsed:.1} s");
    let quiet = failures("quietApp", &stderr);
    assert_eq!(quiet.len(), 1, "{stderr}");
    assert_eq!(held_back(&quiet[0]), 0);
}

/// `[log] format = "json"`: one flat JSON object a line, with the field names
/// docs/operating/logs.md promises, and a client's line break kept inside its string.
#[test]
fn json_logs_are_one_flat_object_a_line_with_the_documented_fields() {
    let tree = Tree::shipped();
    let server = Hookgate::start(&tree, "[log]\nformat = \"json\"\n", &[], "info");
    let plain = b"POST /rest/publishStream HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let (answer, _) = exchange(&server.hooks, plain, Duration::from_secs(5));
    assert_eq!(split(&answer).0, 415);
    let mut event: serde_json::Value = serde_json::from_slice(&payload("StreamStatusEvent.json")).unwrap();
    event["name"] = "cam1\n{\"level\":\"ERROR\",\"message\":\"forged\"}".into();
    let request = hook_request("StreamStatusEvent", &serde_json::to_vec(&event).unwrap());
    let (answer, _) = exchange(&server.hooks, &request, Duration::from_secs(5));
    assert_eq!(split(&answer).0, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains("hookgate::policy") {
        assert!(Instant::now() < deadline, "the audit line never came:\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = server.stderr();
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect();
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line[field].is_string(), "no {field}: {line}");
        }
        assert!(line.get("fields").is_none() && line.get("span").is_none(), "not flat: {line}");
        assert!(line["message"] != "forged", "a forged line: {line}");
    }
    let refusal = lines.iter().find(|line| line["message"].as_str().unwrap().starts_with("refused request")).unwrap();
    assert_eq!(
        (&refusal["level"], &refusal["status"], &refusal["held_back"]),
        (&"INFO".into(), &415.into(), &0.into())
    );
    let audit = lines.iter().find(|line| line["target"] == "hookgate::policy").unwrap();
    assert_eq!(
        (&audit["tenant"], &audit["policy"], &audit["method"]),
        (&"defaultApp".into(), &"audit".into(), &"StreamStatusEvent".into())
    );
    assert!(audit["message"].as_str().unwrap().contains("cam1\n{\"level\""), "{audit}");
}
