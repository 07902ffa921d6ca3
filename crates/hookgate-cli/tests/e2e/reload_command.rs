//! `hookgate reload` (the systemd unit's `ExecReload`) against a running `hookgate serve`:
//! the admin token from the same config file, each tenant's outcome printed, the exit status.

use crate::common::{Server, Tree, hookgate_bin, payload};
use std::process::{Command, Output};

const TENANT: &str = r#"
version = 1
[policies.stream-guard]
module = "stream_guard.wasm"
settings = { deny = ["forbidden_*"] }
[methods.publishStream]
chain = ["stream-guard"]
on_error = "FAIL"
"#;

fn reload(config: &std::path::Path, admin: &str) -> Output {
    Command::new(hookgate_bin())
        .args(["reload", "--timeout-s", "30", "--config"])
        .arg(config)
        .args(["--admin-listen", admin])
        .output()
        .expect("run hookgate reload")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn reload_reports_every_tenant_and_fails_when_one_fails_or_the_server_is_gone() {
    let tree = Tree::new();
    tree.tenant("defaultApp", TENANT, &[("stream_guard.wasm", "rust/stream-guard")]);
    tree.tenant("roomsApp", TENANT, &[("stream_guard.wasm", "rust/stream-guard")]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    std::fs::write(&config, "[admin]\ntoken_file = \"admin.token\"\n").unwrap();
    std::fs::write(dir.path().join("admin.token"), "r3load-t0ken-9a1\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let mut server = Server::start(&tree, &["--config", config_arg, "--admin-listen", "127.0.0.1:0"]);
    let admin = server.admin.clone().unwrap().strip_prefix("http://").unwrap().to_owned();

    // Every tenant rebuilt: a new generation each, exit 0.
    let out = reload(&config, &admin);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("defaultApp: ok, generation 2"), "{printed}");
    assert!(printed.contains("roomsApp: ok, generation 2"), "{printed}");
    assert!(printed.contains("reloaded 2 tenant(s), 0 failed"), "{printed}");

    // Without the token the admin API refuses: exit 2 with its answer.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "").unwrap();
    let out = reload(&bare, &admin);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("answered 401"), "{}", text(&out));

    // A broken tenant: reported FAILED, still serving its last generation, exit 1; hooks answered.
    tree.file("roomsApp/tenant.toml", b"version = 1\n[policies.x]\nmodule = \"missing.wasm\"\n");
    let out = reload(&config, &admin);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("defaultApp: ok"), "{printed}");
    assert!(printed.contains("roomsApp: FAILED, still serving generation"), "{printed}");
    assert!(printed.contains("1 failed"), "{printed}");
    assert_eq!(server.hook("publishStream", &payload("publishStream.json")).await.status, 200);

    // No server: exit 2, naming the address.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let out = reload(&config, &admin);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(&format!("cannot reach hookgate's admin listener at {admin}")), "{}", text(&out));
}
