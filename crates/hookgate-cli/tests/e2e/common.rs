//! What the end-to-end tests share: policy builds, policy trees, a running server, a client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `hookgate` binary cargo built for these tests.
pub fn hookgate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hookgate"))
}

/// Builds a policy crate from source (once per test process) and returns the component.
/// `plugin` is a path under `plugins/`, e.g. `rust/stream-guard` or `fixtures/faulty`.
pub fn policy(plugin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let out = repo().join("target/test-policies").join(format!("{}.wasm", plugin.replace('/', "-")));
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|p| p == plugin) {
        hookgate_build::build_rust_policy(&repo().join("plugins").join(plugin), &out, &repo().join("target/wasm"))
            .unwrap_or_else(|err| panic!("building {plugin}: {err:#}"));
        built.push(plugin.to_owned());
    }
    out
}

/// A policy tree in a temporary folder laid out like the repo: `<tmp>/policies` is the tree,
/// `<tmp>/tests/payloads` holds the payloads its test cases name.
pub struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("policies")).expect("tree dir");
        copy_dir(&repo().join("tests/payloads"), &dir.path().join("tests/payloads"));
        Tree { dir }
    }

    /// The shipped tree (`policies/`), with its components built from source.
    pub fn shipped() -> Tree {
        let tree = Tree::new();
        let modules = [
            ("token_auth.wasm", "rust/token-auth"),
            ("stream_guard.wasm", "rust/stream-guard"),
            ("audit.wasm", "rust/audit"),
        ];
        for tenant in ["defaultApp", "_default"] {
            let src = repo().join("policies").join(tenant);
            let dst = tree.path().join(tenant);
            copy_dir(&src, &dst);
            for (file, plugin) in modules {
                let manifest = std::fs::read_to_string(dst.join("tenant.toml")).expect("manifest");
                if manifest.contains(file) {
                    std::fs::copy(policy(plugin), dst.join(file)).expect("copy module");
                }
            }
        }
        tree
    }

    /// The tree's folder.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    /// Adds a tenant folder with a manifest and modules: `(file name, plugin)`.
    pub fn tenant(&self, name: &str, manifest: &str, modules: &[(&str, &str)]) -> &Tree {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).expect("tenant dir");
        std::fs::write(dir.join("tenant.toml"), manifest).expect("manifest");
        for (file, plugin) in modules {
            std::fs::copy(policy(plugin), dir.join(file)).expect("copy module");
        }
        self
    }

    /// Writes a file inside the tree.
    pub fn file(&self, relative: &str, contents: &[u8]) -> &Tree {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, contents).expect("write");
        self
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("dst dir");
    for entry in std::fs::read_dir(src).expect("src dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &dst.join(entry.file_name()));
        } else if path.extension().is_none_or(|ext| ext != "wasm") {
            std::fs::copy(&path, dst.join(entry.file_name())).expect("copy");
        }
    }
}

/// A running `hookgate serve`, killed on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin listener, when started with `--admin-listen`.
    pub admin: Option<String>,
    /// `ws://…/ws` of the event service, when started with `--events-listen`.
    pub events: Option<String>,
    client: reqwest::Client,
}

impl Server {
    /// Starts `hookgate serve` on the tree with extra flags, and waits until it listens.
    pub fn start(tree: &Tree, extra: &[&str]) -> Server {
        let mut child = Command::new(hookgate_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
            .arg(tree.path())
            .args(extra)
            .env("HOOKGATE_LOG", std::env::var("HOOKGATE_TEST_LOG").unwrap_or_else(|_| "off".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hookgate serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut read = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read stdout");
            line.trim().strip_prefix(prefix).unwrap_or_else(|| panic!("hookgate did not start: {line:?}")).to_owned()
        };
        let base = read("hookgate listening: hooks=");
        let admin = extra.contains(&"--admin-listen").then(|| read("hookgate listening: admin="));
        let events = extra.contains(&"--events-listen").then(|| read("hookgate listening: events="));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        Server { child, base, admin, events, client }
    }

    /// GETs a path of the admin listener: status and body text.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let admin = self.admin.as_ref().expect("started with --admin-listen");
        let response = self.client.get(format!("{admin}{path}")).send().await.expect("admin answers");
        (response.status().as_u16(), response.text().await.expect("text"))
    }

    /// POSTs to a path of the admin listener, as JSON (a reload without the admin token needs
    /// it): status and body text.
    pub async fn post_admin(&self, path: &str) -> (u16, String) {
        let admin = self.admin.as_ref().expect("started with --admin-listen");
        let request = self.client.post(format!("{admin}{path}")).header("content-type", "application/json");
        let response = request.send().await.expect("admin answers");
        (response.status().as_u16(), response.text().await.expect("text"))
    }

    /// The `/api/policies` entry of one tenant, if listed.
    pub async fn tenant_status(&self, tenant: &str) -> Option<serde_json::Value> {
        let (_, text) = self.admin_get("/api/policies").await;
        let all: serde_json::Value = serde_json::from_str(&text).expect("policies JSON");
        all["tenants"].as_array().expect("tenants").iter().find(|t| t["tenant"] == tenant).cloned()
    }

    /// Polls `/api/policies` until `done` holds for the tenant's entry (or its absence).
    pub async fn wait_for(&self, tenant: &str, what: &str, done: impl Fn(Option<&serde_json::Value>) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let status = self.tenant_status(tenant).await;
            if done(status.as_ref()) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {tenant}: {what}; last status {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A client for the hook listener.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// POSTs a hook with `Content-Type: application/json`.
    pub async fn hook(&self, method: &str, body: &[u8]) -> Answer {
        self.post(&format!("/rest/{method}"), body, Some("application/json;charset=UTF-8"), None).await
    }

    /// POSTs anything.
    pub async fn post(
        &self,
        path: &str,
        body: &[u8],
        content_type: Option<&str>,
        authorization: Option<&str>,
    ) -> Answer {
        let mut request = self.client.post(format!("{}{path}", self.base)).body(body.to_vec());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        Answer::from(request.send().await.expect("hookgate answers")).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// `X-Hookgate-Generation` header.
    pub generation: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// Reads a whole response.
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap_or_default().to_owned());
        let content_type = header("content-type");
        let generation = header("x-hookgate-generation");
        let body = response.bytes().await.expect("body").to_vec();
        Answer { status, content_type, generation, body }
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("answer is not JSON ({err}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A payload file of `tests/payloads/`.
pub fn payload(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/payloads").join(name)).unwrap_or_else(|err| panic!("payload {name}: {err}"))
}

/// A payload file of `tests/payloads/` with its `appKey` replaced (routes it to that tenant).
pub fn with_app_key(file: &str, app_key: &str) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(&payload(file)).expect("payload is JSON");
    body["appKey"] = serde_json::Value::String(app_key.to_owned());
    serde_json::to_vec(&body).expect("serialisable")
}
