//! The file watcher: turns file events into per-tenant signals. It never builds anything.

use crate::Registry;
use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Component, Path};
use std::sync::{Arc, Weak};

/// Watches `root` recursively; every event signals the tenant folder it touches.
pub(crate) fn start(
    registry: &Arc<Registry>,
    root: &Path,
    runtime: tokio::runtime::Handle,
) -> notify::Result<notify::RecommendedWatcher> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
    let registry: Weak<Registry> = Arc::downgrade(registry);
    let base = root.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Some(registry) = registry.upgrade() else { return };
        match event {
            // Reads (our own builds open every file) must not trigger builds: only changes count.
            Ok(event) if !changes(&event.kind) => {}
            Ok(event) => {
                for path in &event.paths {
                    if let Some(tenant) = tenant_of(&base, path) {
                        let _guard = runtime.enter();
                        registry.signal(&tenant);
                    }
                }
            }
            Err(err) => tracing::warn!("policy tree watcher: {err}"),
        }
    })?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Whether an event kind changes the tree (as opposed to reading it or touching metadata).
fn changes(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any | ModifyKind::Other)
            | EventKind::Any
    )
}

/// The tenant folder a path belongs to: its first component under `root`.
fn tenant_of(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    match relative.components().next()? {
        Component::Normal(name) => {
            let name = name.to_string_lossy();
            (!name.starts_with('.')).then(|| name.into_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::tenant_of;
    use std::path::Path;

    #[test]
    fn first_component_names_the_tenant() {
        let root = Path::new("/srv/policies");
        assert_eq!(tenant_of(root, Path::new("/srv/policies/defaultApp/x.wasm")), Some("defaultApp".into()));
        assert_eq!(tenant_of(root, Path::new("/srv/policies/new")), Some("new".into()));
        assert_eq!(tenant_of(root, Path::new("/srv/policies/.git/index")), None);
        assert_eq!(tenant_of(root, Path::new("/srv/policies")), None);
        assert_eq!(tenant_of(root, Path::new("/elsewhere/x")), None);
    }
}
