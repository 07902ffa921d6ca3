//! Tenant containment at the manifest: what a `tenant.toml` names stays inside its folder (or
//! the operator's `secrets_dir`), is read bounded, and reaches the environment only under the
//! operator's prefix; `[tenants]` in `hookgate.toml` sets those bounds. Each refusal is checked
//! word for word, and that the refused file's content is not in it.

#![allow(missing_docs)]

use hookgate_config::{Limits, TenantBounds, load_server_file, load_tenant, load_tenant_bounds};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The text of another tenant's key: it must never show in an error.
const OTHER_KEY: &str = "other-tenants-hmac-key-4f1c";

/// A tree with tenants `app` (empty) and `other` (holding `wcs.key`).
struct Tree {
    root: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(root.path().join("app")).expect("app");
        std::fs::create_dir_all(root.path().join("other")).expect("other");
        std::fs::write(root.path().join("other/wcs.key"), format!("{OTHER_KEY}\n")).expect("key");
        Tree { root }
    }

    fn app(&self) -> PathBuf {
        self.root.path().join("app")
    }

    fn manifest(&self, text: &str) -> &Tree {
        std::fs::write(self.app().join("tenant.toml"), text).expect("manifest");
        self
    }

    /// Loads `app` and returns the error, checked to hold nothing of the other tenant's key.
    fn refused(&self, bounds: &TenantBounds) -> String {
        let err = load_tenant(&self.app(), bounds).expect_err("refused").to_string();
        assert!(!err.contains(OTHER_KEY), "{err}");
        err
    }

    fn manifest_path(&self) -> String {
        self.app().join("tenant.toml").display().to_string()
    }
}

#[test]
fn a_secret_symlinked_to_another_tenants_key_is_refused() {
    let tree = Tree::new();
    symlink("../other/wcs.key", tree.app().join("token.secret")).expect("symlink");
    tree.manifest("version = 1\n[auth]\nhmac_key_file = \"token.secret\"\n");
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: auth.hmac_key_file: 'token.secret' resolves outside the tenant folder (through a symbolic link): \
             a tenant's files must stay inside it",
            tree.manifest_path()
        )
    );
}

#[test]
fn a_secret_in_the_operators_secrets_dir_is_read() {
    let tree = Tree::new();
    let secrets = tree.root.path().join("other");
    let key = secrets.join("wcs.key");
    tree.manifest(&format!("version = 1\n[auth]\nhmac_key_file = \"{}\"\n", key.display()));
    let bounds = TenantBounds { secrets_dir: Some(secrets), ..TenantBounds::default() };
    let manifest = load_tenant(&tree.app(), &bounds).expect("loads");
    assert_eq!(manifest.auth.hmac_key.expect("a key").expose(), OTHER_KEY.as_bytes(), "read, without its newline");
}

#[test]
fn a_fifo_settings_file_fails_the_load_at_once() {
    let tree = Tree::new();
    let made = std::process::Command::new("mkfifo").arg(tree.app().join("settings.fifo")).status().expect("mkfifo");
    assert!(made.success());
    tree.manifest(
        "version = 1\n[policies.p]\nmodule = \"p.wasm\"\nsettings_from_file = { secret = \"settings.fifo\" }\n",
    );
    let started = Instant::now();
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: policies.p.settings_from_file.secret: 'settings.fifo' is not a regular file",
            tree.manifest_path()
        )
    );
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn a_secret_symlinked_to_dev_zero_is_refused_before_any_read() {
    let tree = Tree::new();
    symlink("/dev/zero", tree.app().join("zero.secret")).expect("symlink");
    tree.manifest("version = 1\n[auth]\nbasic_user = \"wcs\"\nbasic_password_file = \"zero.secret\"\n");
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: auth.basic_password_file: 'zero.secret' resolves outside the tenant folder (through a symbolic \
             link): a tenant's files must stay inside it",
            tree.manifest_path()
        )
    );
    // Even where the operator allows /dev, a device is not a regular file.
    let dev = TenantBounds { secrets_dir: Some("/dev".into()), ..TenantBounds::default() };
    assert_eq!(
        tree.refused(&dev),
        format!("{}: auth.basic_password_file: 'zero.secret' is not a regular file", tree.manifest_path())
    );
}

#[test]
fn an_oversized_secret_is_refused() {
    let tree = Tree::new();
    std::fs::write(tree.app().join("big.secret"), vec![b'k'; 64 * 1024 + 1]).expect("write");
    tree.manifest("version = 1\n[auth]\nhmac_key_file = \"big.secret\"\n");
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: auth.hmac_key_file: 'big.secret' is larger than 65536 bytes ([tenants] max_secret_kb in \
             hookgate.toml)",
            tree.manifest_path()
        )
    );
}

#[test]
fn the_manifest_itself_stays_inside_and_bounded() {
    let tree = Tree::new();
    symlink("../other/wcs.key", tree.app().join("tenant.toml")).expect("symlink");
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: 'tenant.toml' resolves outside the tenant folder (through a symbolic link): a tenant's files must \
             stay inside it",
            tree.manifest_path()
        )
    );
    std::fs::remove_file(tree.app().join("tenant.toml")).expect("remove");
    tree.manifest(&format!("version = 1\n#{}\n", "x".repeat(2048)));
    let small = TenantBounds { max_file_kb: 1, ..TenantBounds::default() };
    assert_eq!(
        tree.refused(&small),
        format!(
            "{}: 'tenant.toml' is larger than 1024 bytes ([tenants] max_file_kb in hookgate.toml)",
            tree.manifest_path()
        )
    );
}

#[test]
fn a_syntax_error_does_not_quote_the_file() {
    let tree = Tree::new();
    tree.manifest(&format!("version = 1\n[auth\nhmac_key = \"{OTHER_KEY}\"\n"));
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!("{}: TOML parse error at line 2, column 6: unclosed table, expected `]`", tree.manifest_path())
    );
}

#[test]
fn environment_variables_need_the_operators_prefix() {
    let tree = Tree::new();
    let manifest = "version = 1\n[policies.p]\nmodule = \"p.wasm\"\nsettings_from_env = { url = \"PATH\" }\n";
    tree.manifest(manifest);
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: policies.p.settings_from_env.url: a tenant reads environment variables only under the operator's \
             prefix: set [tenants] env_prefix in hookgate.toml (or use the _file form)",
            tree.manifest_path()
        )
    );
    let prefixed = TenantBounds { env_prefix: Some("HOOKGATE_TENANT_".into()), ..TenantBounds::default() };
    let err = tree.refused(&prefixed);
    assert_eq!(
        err,
        format!(
            "{}: policies.p.settings_from_env.url: 'PATH' does not start with 'HOOKGATE_TENANT_', the prefix \
             [tenants] env_prefix allows",
            tree.manifest_path()
        )
    );
    let path = std::env::var("PATH").expect("PATH is set");
    assert!(!err.contains(&path), "{err}");

    // CARGO_PKG_NAME is set for this test binary: a prefix that covers it reads it.
    tree.manifest(
        "version = 1\n[policies.p]\nmodule = \"p.wasm\"\nsettings_from_env = { name = \"CARGO_PKG_NAME\" }\n",
    );
    let cargo = TenantBounds { env_prefix: Some("CARGO_PKG_".into()), ..TenantBounds::default() };
    let loaded = load_tenant(&tree.app(), &cargo).expect("loads");
    assert_eq!(loaded.policies["p"].settings, r#"{"name":"hookgate-config"}"#);
}

#[test]
fn a_client_set_field_needs_the_operators_opt_in() {
    let tree = Tree::new();
    tree.manifest("version = 1\n[[rest_api_initiated]]\nfield = \"custom.initiator\"\nequals = \"rest-api\"\n");
    assert_eq!(
        tree.refused(&TenantBounds::default()),
        format!(
            "{}: rest_api_initiated[0].field: 'custom.initiator' is a field a WCS client can set, so any client \
             could mark its hooks as REST-API-initiated (never denied); a matcher may name only fields WCS itself \
             sets (nodeId, sessionId), unless the operator lists the field in [tenants] trusted_client_fields in \
             hookgate.toml",
            tree.manifest_path()
        )
    );
    let near = TenantBounds { trusted_client_fields: vec!["custom".into()], ..TenantBounds::default() };
    assert!(tree.refused(&near).contains("'custom.initiator' is a field a WCS client can set"), "exact paths only");
    let trusted = TenantBounds { trusted_client_fields: vec!["custom.initiator".into()], ..TenantBounds::default() };
    let manifest = load_tenant(&tree.app(), &trusted).expect("the operator trusts it");
    assert_eq!(manifest.rest_api_initiated[0].path, ["custom", "initiator"]);
}

#[test]
fn tenants_table_of_hookgate_toml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        "[limits]\ntimeout_ms = 20\n[tenants]\nsecrets_dir = \"secrets\"\nenv_prefix = \"APP_\"\n\
         trusted_client_fields = [\"custom.initiator\"]\nmax_module_mb = 8\nmax_functions = 5000\n",
    )
    .expect("write");
    let bounds = load_tenant_bounds(Some(&config)).expect("loads");
    assert_eq!(
        bounds,
        TenantBounds {
            limits: Limits { timeout_ms: 20, ..Limits::default() },
            secrets_dir: Some(dir.path().join("secrets")),
            env_prefix: Some("APP_".into()),
            trusted_client_fields: vec!["custom.initiator".into()],
            max_module_mb: 8,
            max_functions: 5000,
            ..TenantBounds::default()
        }
    );
    assert_eq!(load_tenant_bounds(None).expect("defaults"), TenantBounds::default());

    for (text, expected) in [
        (
            "[tenants]\nenv_prefix = \"\"\n",
            "tenants.env_prefix: must be non-empty and use only letters, digits and '_'",
        ),
        ("[tenants]\nmax_module_mb = 0\n", "tenants.max_module_mb: must be between 1 and 1024, got 0"),
        ("[tenants]\nmax_functions = 2000000\n", "tenants.max_functions: must be between 1 and 1000000, got 2000000"),
        ("[tenants]\ntrusted_client_fields = [\"custom.\"]\n", "'custom.' is not a dotted field path"),
        ("[tenants]\nmax_module_kb = 1\n", "unknown field `max_module_kb`"),
    ] {
        std::fs::write(&config, text).expect("write");
        let err = load_server_file(Path::new(&config)).expect_err(text).to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
