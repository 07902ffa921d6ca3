//! The manifest loader on hostile tenant folders: arbitrary `tenant.toml` text through
//! `parse_tenant`, in a fixed tenant folder whose files include the escapes a tenant's author
//! could try (a symbolic link to a file outside the folder, a FIFO, a link to `/dev/zero`, a
//! secret past its size cap) next to ordinary files.
//!
//! Input: the manifest text (non-UTF-8 inputs are skipped: `load_tenant` refuses them before
//! parsing). The operator's bounds: `env_prefix = "HOOKGATE_FUZZ_"`, `max_secret_kb = 1`, no
//! `secrets_dir`, no trusted client fields.
//!
//! Checks: no panic and no hang (a FIFO read would block: libFuzzer's timeout catches it); the
//! content of the file outside the folder never appears, in an error or in a loaded manifest's
//! settings and secrets; a loaded manifest's limits are in range, its REST-API matchers name
//! only fields WCS sets, and its module paths are relative without `..`.

#![no_main]

use hookgate_config::{TenantBounds, WCS_SET_FIELDS, parse_tenant};
use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

/// The content of the file outside the tenant folder.
const OUTSIDE: &str = "OUTSIDE-THE-TENANT-7f3a";

/// `<tmp>/outside.key` and the tenant folder `<tmp>/app`, made once per process.
static TENANT: LazyLock<PathBuf> = LazyLock::new(|| {
    let root = std::env::temp_dir().join(format!("hookgate-fuzz-manifest-{}", std::process::id()));
    let app = root.join("app");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(app.join("tests")).expect("tenant folder");
    std::fs::write(root.join("outside.key"), OUTSIDE).expect("outside file");
    std::fs::write(app.join("inside.secret"), "inside-secret\n").expect("secret");
    std::fs::write(app.join("big.secret"), vec![b'x'; 4096]).expect("big secret");
    std::fs::write(app.join("m.wasm"), b"\0asm\x01\0\0\0").expect("module");
    symlink("../outside.key", app.join("link.secret")).expect("symlink");
    symlink("..", app.join("up")).expect("symlink");
    symlink("/dev/zero", app.join("zero.secret")).expect("symlink");
    let fifo = std::process::Command::new("mkfifo").arg(app.join("fifo.secret")).status().expect("mkfifo");
    assert!(fifo.success(), "mkfifo failed");
    app
});

static BOUNDS: LazyLock<TenantBounds> = LazyLock::new(|| TenantBounds {
    env_prefix: Some("HOOKGATE_FUZZ_".into()),
    max_secret_kb: 1,
    ..TenantBounds::default()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let dir = TENANT.as_path();
    match parse_tenant(text, dir, &dir.join("tenant.toml"), &BOUNDS) {
        Err(err) => {
            let shown = err.to_string();
            assert!(!shown.contains(OUTSIDE), "an error shows the outside file: {shown}");
        }
        Ok(manifest) => {
            assert_eq!(manifest.limits.check(), Ok(()));
            for matcher in &manifest.rest_api_initiated {
                assert!(WCS_SET_FIELDS.contains(&matcher.path.join(".").as_str()), "{:?}", matcher.path);
            }
            for (name, policy) in &manifest.policies {
                assert!(!policy.settings.contains(OUTSIDE), "policy {name} got the outside file");
                assert!(
                    policy.module.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                    "module {} leaves the folder",
                    policy.module.display()
                );
                assert!(Path::new(&policy.module).extension().is_some_and(|ext| ext == "wasm"));
            }
            let auth = &manifest.auth;
            let secrets = auth.hmac_key.iter().chain(auth.basic.as_ref().map(|basic| &basic.password));
            for secret in secrets {
                assert_ne!(secret.expose(), OUTSIDE.as_bytes(), "a secret was read from outside the folder");
            }
        }
    }
});
