//! Tenant containment through the real binary: the files a tenant folder names stay inside it
//! (or the operator's `secrets_dir`), are read bounded and off the async workers, modules are
//! bounded before they compile, and nothing a refused file holds shows in `/api/policies`. The
//! shipped tree is self-contained: copied anywhere, it passes `hookgate test`, serves and
//! hot-reloads.

use crate::common::{Server, Tree, hookgate_bin, payload, policy, repo};
use serde_json::{Value, json};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The text of another tenant's key: it must never appear in what hookgate says.
const KEY: &str = "other-tenants-wcs-key-5a91e";

/// Adds the tenant `other`, whose `wcs.key` holds [`KEY`].
fn other_tenant(tree: &Tree) {
    tree.tenant("other", "version = 1\n[auth]\nhmac_key_file = \"wcs.key\"\n", &[])
        .file("other/wcs.key", format!("{KEY}\n").as_bytes());
}

/// Writes `hookgate.toml` beside the tree and returns its path.
fn config(tree: &Tree, text: &str) -> PathBuf {
    let path = tree.path().parent().expect("the tree's folder").join("hookgate.toml");
    std::fs::write(&path, text).expect("write hookgate.toml");
    path
}

/// `/api/policies`, checked to hold nothing of [`KEY`].
async fn policies_without_key(server: &Server) -> String {
    let (status, text) = server.admin_get("/api/policies").await;
    assert_eq!(status, 200);
    assert!(!text.contains(KEY), "/api/policies shows the other tenant's key: {text}");
    text
}

/// Copies `src` into `dst` without the build outputs (`*.wasm`).
fn copy_sources(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("dst dir");
    for entry in std::fs::read_dir(src).expect("src dir") {
        let path = entry.expect("entry").path();
        let target = dst.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_sources(&path, &target);
        } else if path.extension().is_none_or(|ext| ext != "wasm") {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn the_shipped_tree_copied_elsewhere_tests_serves_and_hot_reloads() {
    let tree = Tree::new();
    // As an operator deploys it: the tree alone, no tests/payloads of the repository beside it.
    std::fs::remove_dir_all(tree.path().parent().expect("parent").join("tests")).expect("remove payloads");
    copy_sources(&repo().join("policies"), &tree.path());
    for (tenant, _) in hookgate_config::tenant_dirs(&tree.path()).expect("tenants") {
        let dir = tree.path().join(&tenant);
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("tenant.toml")).expect("manifest")).expect("TOML");
        for declared in manifest["policies"].as_table().expect("policies").values() {
            let module = declared["module"].as_str().expect("module");
            let plugin = format!("rust/{}", module.trim_end_matches(".wasm").replace('_', "-"));
            std::fs::copy(policy(&plugin), dir.join(module)).expect("copy module");
        }
    }

    let out = Command::new(hookgate_bin()).arg("test").arg(tree.path()).output().expect("run hookgate test");
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(" passed, 0 failed"), "{shown}");
    assert!(!shown.contains("warning"), "{shown}");

    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let answer = server.hook("publishStream", &payload("publishStream.forbidden.json")).await;
    assert_eq!(answer.status, 403);
    let manifest = tree.path().join("defaultApp/tenant.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, format!("{text}\n# edited by the operator\n")).expect("rewrite");
    server.wait_for("defaultApp", "generation 2", |s| s.is_some_and(|s| s["generation"] == 2)).await;
    let status = server.tenant_status("defaultApp").await.expect("listed");
    assert_eq!(status["last_reload"]["outcome"], "ok", "{status}");
    assert_eq!(status["last_reload"]["generation"], 2, "{status}");
    assert_eq!(status["last_reload"]["error"], Value::Null, "{status}");
    assert_eq!(status["reloads"], json!({"ok": 2, "failed": 0}), "{status}");
    assert_eq!(server.hook("publishStream", &payload("publishStream.forbidden.json")).await.status, 403);
}

#[tokio::test]
async fn modules_that_escape_or_pass_the_bounds_are_not_loaded_and_never_shown() {
    let tree = Tree::new();
    other_tenant(&tree);
    tree.tenant(
        "app",
        r#"version = 1
[policies.key]
module = "key.wasm"
[policies.zero]
module = "zero.wasm"
[policies.text]
module = "text.wasm"
[policies.big]
module = "big.wasm"
[policies.many]
module = "many.wasm"
[methods.publishStream]
chain = ["key"]
on_error = "FAIL"
"#,
        &[],
    );
    let app = tree.path().join("app");
    symlink("../other/wcs.key", app.join("key.wasm")).expect("symlink");
    symlink("/dev/zero", app.join("zero.wasm")).expect("symlink");
    std::fs::write(app.join("text.wasm"), format!("(component) ;; {KEY}")).expect("write");
    let mut big = b"\0asm\x0d\0\x01\0".to_vec();
    big.resize((1 << 20) + 1, 0);
    std::fs::write(app.join("big.wasm"), big).expect("write");
    let functions = "(func)".repeat(11);
    let many = wat::parse_str(format!("(component (core module {functions}))")).expect("a component");
    std::fs::write(app.join("many.wasm"), many).expect("write");
    let config = config(&tree, "[tenants]\nmax_module_mb = 1\nmax_functions = 10\n");

    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0", "--config", config.to_str().expect("utf-8")]);
    let text = policies_without_key(&server).await;
    let all: Value = serde_json::from_str(&text).expect("JSON");
    let app_status = all["tenants"].as_array().expect("tenants").iter().find(|t| t["tenant"] == "app").expect("app");
    let errors: serde_json::Map<String, Value> = app_status["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| (p["name"].as_str().expect("name").to_owned(), p["error"].clone()))
        .collect();
    let outside = "resolves outside the tenant folder (through a symbolic link): a tenant's files must stay inside it";
    assert_eq!(
        Value::Object(errors),
        json!({
            "key": format!("'key.wasm' {outside}"),
            "zero": format!("'zero.wasm' {outside}"),
            "text": "not a WebAssembly binary",
            "big": "'big.wasm' is larger than 1048576 bytes ([tenants] max_module_mb in hookgate.toml)",
            "many": "the module defines more than 10 functions ([tenants] max_functions in hookgate.toml)",
        })
    );
    // A hook through the refused module gets its method's fallback, without the key either.
    let answer = server.hook("publishStream", &crate::common::with_app_key("publishStream.json", "app")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.json(),
        json!({"error": format!("policy 'key' is not loaded: 'key.wasm' {outside}"), "policy": "key"})
    );

    // `hookgate check` with the same config says the same.
    let out = Command::new(hookgate_bin())
        .args(["check", "--config", config.to_str().expect("utf-8")])
        .arg(tree.path())
        .output()
        .expect("run hookgate check");
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("the module defines more than 10 functions"), "{shown}");
    assert!(shown.contains("5 problem(s)"), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn secrets_payloads_and_variables_outside_the_bounds_fail_the_reload_without_their_content() {
    let tree = Tree::new();
    other_tenant(&tree);
    tree.tenant("app", "version = 1\n", &[]);
    let app = tree.path().join("app");
    let config = config(&tree, "[tenants]\nenv_prefix = \"HOOKGATE_TENANT_\"\n");
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0", "--config", config.to_str().expect("utf-8")]);
    server.wait_for("app", "generation 1", |s| s.is_some_and(|s| s["generation"] == 1)).await;
    let path = std::env::var("PATH").expect("PATH is set");
    let key_file = tree.path().join("other/wcs.key");
    let manifest = app.join("tenant.toml").display().to_string();
    let cases = app.join("tests/leak.json").display().to_string();
    let outside = "resolves outside the tenant folder (through a symbolic link): a tenant's files must stay inside it";
    let no_parent = "contains '..': a tenant names files inside its folder, without '..'";
    let policy = "[policies.p]\nmodule = \"p.wasm\"\n";

    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>, String);
    let steps: Vec<Step<'_>> = vec![
        (
            "a payload_file with '..'",
            Box::new(|| {
                tree.file(
                    "app/tests/leak.json",
                    br#"{"name": "leak", "method": "connect", "payload_file": "../../other/wcs.key", "expect": {"status": 200}}"#,
                );
            }),
            format!("{cases}: case 'leak': payload_file: '../../other/wcs.key' {no_parent}"),
        ),
        (
            "a payload_file symlinked out",
            Box::new(|| {
                std::fs::create_dir_all(app.join("tests/payloads")).expect("dir");
                symlink("../../../other/wcs.key", app.join("tests/payloads/leak.json")).expect("symlink");
                tree.file(
                    "app/tests/leak.json",
                    br#"{"name": "leak", "method": "connect", "payload_file": "payloads/leak.json", "expect": {"status": 200}}"#,
                );
            }),
            format!("{cases}: case 'leak': payload_file: 'payloads/leak.json' {outside}"),
        ),
        (
            "a settings file with '..'",
            Box::new(|| {
                tree.file(
                    "app/tenant.toml",
                    format!("version = 1\n{policy}settings_from_file = {{ s = \"../other/wcs.key\" }}\n").as_bytes(),
                );
            }),
            format!("{manifest}: policies.p.settings_from_file.s: '../other/wcs.key' {no_parent}"),
        ),
        (
            "an absolute key file",
            Box::new(|| {
                let text = format!("version = 1\n[auth]\nhmac_key_file = \"{}\"\n", key_file.display());
                tree.file("app/tenant.toml", text.as_bytes());
            }),
            format!(
                "{manifest}: auth.hmac_key_file: '{}' is an absolute path: a tenant names files inside its folder \
                 (or a secret inside [tenants] secrets_dir, when hookgate.toml sets one)",
                key_file.display()
            ),
        ),
        (
            "a password file symlinked out",
            Box::new(|| {
                symlink("../other/wcs.key", app.join("wcs.password")).expect("symlink");
                let text = "version = 1\n[auth]\nbasic_user = \"wcs\"\nbasic_password_file = \"wcs.password\"\n";
                tree.file("app/tenant.toml", text.as_bytes());
            }),
            format!("{manifest}: auth.basic_password_file: 'wcs.password' {outside}"),
        ),
        (
            "a variable outside the prefix",
            Box::new(|| {
                tree.file(
                    "app/tenant.toml",
                    format!("version = 1\n{policy}settings_from_env = {{ s = \"PATH\" }}\n").as_bytes(),
                );
            }),
            format!(
                "{manifest}: policies.p.settings_from_env.s: 'PATH' does not start with 'HOOKGATE_TENANT_', the prefix \
                 [tenants] env_prefix allows"
            ),
        ),
    ];
    for (what, write, expected) in steps {
        write();
        server
            .wait_for("app", what, |s| s.is_some_and(|s| s["last_reload"]["error"].as_str() == Some(expected.as_str())))
            .await;
        let text = policies_without_key(&server).await;
        assert!(!text.contains(&path), "{what}: /api/policies shows PATH: {text}");
        let status = server.tenant_status("app").await.expect("listed");
        assert_eq!(
            (status["generation"].clone(), status["last_reload"]["outcome"].clone()),
            (json!(1), json!("failed")),
            "{what}"
        );
    }
}

/// `hookgate serve` on `tree`, stopped after `limit` if it has not exited: its exit code (None
/// when it had to be stopped), its stderr and how long it ran.
fn serve_until_exit(tree: &Tree, limit: Duration) -> (Option<i32>, String, Duration) {
    let mut child = Command::new(hookgate_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
        .arg(tree.path())
        .env("HOOKGATE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookgate serve");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > limit {
            child.kill().expect("kill");
            child.wait().expect("reap");
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    (code, stderr, elapsed)
}

const FIFO_MANIFEST: &str =
    "version = 1\n[policies.p]\nmodule = \"p.wasm\"\nsettings_from_file = { s = \"settings.fifo\" }\n";

fn fifo_tenant(tree: &Tree) {
    tree.tenant("fifoApp", FIFO_MANIFEST, &[]);
    let made = Command::new("mkfifo").arg(tree.path().join("fifoApp/settings.fifo")).status().expect("mkfifo");
    assert!(made.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_settings_file_fails_its_load_at_once_and_hooks_keep_flowing() {
    const GUARD: &str = "version = 1\n[policies.g]\nmodule = \"g.wasm\"\nsettings = { deny = [\"forbidden_*\"] }\n\
                         [methods.publishStream]\nchain = [\"g\"]\non_error = \"FAIL\"\n";
    let refused = "fifoApp/tenant.toml: policies.p.settings_from_file.s: 'settings.fifo' is not a regular file";

    // At start: serve refuses the tree, at once.
    let tree = Tree::new();
    tree.tenant("defaultApp", GUARD, &[("g.wasm", "rust/stream-guard")]);
    fifo_tenant(&tree);
    let (code, stderr, took) = serve_until_exit(&tree, Duration::from_secs(15));
    assert_eq!(code, Some(2), "serve did not exit by itself in {took:?}: {stderr}");
    assert!(stderr.contains(refused), "{stderr}");
    std::fs::remove_dir_all(tree.path().join("fifoApp")).expect("remove fifoApp");

    // At reload: the folder appears while hooks flow; its load fails and the hooks go on.
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let (client, url, body) =
        (server.client(), format!("{}/rest/publishStream", server.base), payload("publishStream.forbidden.json"));
    let flow = {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response =
                    client.post(&url).header("content-type", "application/json").body(body.clone()).send().await;
                assert_eq!(response.expect("every hook is answered").status().as_u16(), 403);
                slowest = slowest.max(started.elapsed());
                answered.fetch_add(1, Ordering::Relaxed);
            }
            slowest
        })
    };
    let started = Instant::now();
    fifo_tenant(&tree);
    server
        .wait_for("fifoApp", "the FIFO refused", |s| {
            s.and_then(|s| s["last_reload"]["error"].as_str()).is_some_and(|error| error.ends_with(refused))
        })
        .await;
    let took = started.elapsed();
    let before = answered.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let slowest = flow.await.expect("the hook flow");
    assert!(took < Duration::from_secs(5), "the refusal took {took:?}");
    assert!(answered.load(Ordering::Relaxed) > before, "hooks stopped being answered after the refusal");
    assert!(slowest < Duration::from_secs(1), "a hook took {slowest:?} while the FIFO tenant loaded");
    let status = server.tenant_status("fifoApp").await.expect("listed");
    assert_eq!(status["generation"], 0, "{status}");
    // Its appKey does not fall through to another tenant.
    let answer = server.hook("publishStream", &crate::common::with_app_key("publishStream.json", "fifoApp")).await;
    assert_ne!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
}
