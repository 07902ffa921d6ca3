//! Golden tests: every `tests/ui/*.toml` is refused with exactly the message in its `.err` file,
//! and every `tests/ui/ok-*.toml` loads. `HOOKGATE_BLESS=1` rewrites the `.err` files. The
//! operator's bounds are the defaults with `[tenants] env_prefix = "HOOKGATE_TEST_"`.

use hookgate_config::{TenantBounds, parse_tenant};
use std::path::Path;

#[test]
fn refused_manifests_give_their_golden_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let bounds = TenantBounds { env_prefix: Some("HOOKGATE_TEST_".into()), ..TenantBounds::default() };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/ui exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_owned();
        let text = std::fs::read_to_string(&path).expect("readable");
        let shown = Path::new("tenant").join(&name);
        let result = parse_tenant(&text, &dir, &shown, &bounds);
        if name.starts_with("ok-") {
            assert!(result.is_ok(), "{name}: {}", result.err().map(|e| e.to_string()).unwrap_or_default());
        } else {
            let actual = result.err().map(|e| e.to_string()).unwrap_or_else(|| "<accepted>".into());
            if std::env::var_os("HOOKGATE_BLESS").is_some() {
                std::fs::write(path.with_extension("err"), format!("{actual}\n")).expect("write golden");
            }
            let expected = std::fs::read_to_string(path.with_extension("err")).expect("golden .err file");
            assert_eq!(actual.trim(), expected.trim(), "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} golden cases found");
}
