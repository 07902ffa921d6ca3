//! The layout of a policy tree on disk.

use std::path::{Path, PathBuf};

/// The folder of the tenant used for appKeys that have no folder of their own.
pub const DEFAULT_TENANT: &str = "_default";

/// The manifest file in every tenant folder.
pub const MANIFEST_FILE: &str = "tenant.toml";

/// Lists the tenant folders of a policy tree: every sub-folder holding a `tenant.toml`,
/// sorted by name. Folders whose name starts with `.` are skipped (editor and VCS files).
pub fn tenant_dirs(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut tenants = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') || !path.join(MANIFEST_FILE).is_file() {
            continue;
        }
        tenants.push((name, path));
    }
    tenants.sort();
    Ok(tenants)
}
