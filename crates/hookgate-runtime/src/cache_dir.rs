//! The compiled-module cache directory. wasmtime loads the native code it finds there without
//! verifying it again, so the directory must be hookgate's user's alone: created `0700`, and
//! refused when another user owns it or may write to it (or may replace it: a parent that
//! others can write to without the sticky bit).

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

/// Why a cache directory is refused.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    /// The directory (or a missing parent) could not be created, or not inspected.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The path exists and is not a directory.
    #[error("{} is not a directory", path.display())]
    NotDirectory {
        /// The path.
        path: PathBuf,
    },
    /// Another user owns the directory.
    #[error(
        "{} is owned by uid {owner}, not by hookgate's user (uid {user}): wasmtime runs the native code it finds \
         there; use a directory of hookgate's user, or cache_dir = \"off\"",
        path.display()
    )]
    ForeignOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// hookgate's effective user.
        user: u32,
    },
    /// Users other than its owner may write to the directory, or replace it.
    #[error(
        "{} is writable by {who} (mode {mode:04o}): whoever can write there can make hookgate run their native \
         code; chmod 700 {}, or use another cache_dir, or cache_dir = \"off\"",
        path.display(),
        dir.display()
    )]
    Writable {
        /// The directory (or the parent) that others may write to.
        path: PathBuf,
        /// The cache directory.
        dir: PathBuf,
        /// `group`, `others` or `group and others`.
        who: &'static str,
        /// Its permission bits.
        mode: u32,
    },
}

/// Creates `dir` (and its missing parents) with mode `0700` if missing, then checks that it is
/// a directory of hookgate's effective user that no one else may write to, and that no parent
/// lets others replace it (writable by others without the sticky bit).
pub(crate) fn ensure_private(dir: &Path) -> Result<(), CacheDirError> {
    let io = |source| CacheDirError::Io { path: dir.to_owned(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
    let canonical = dir.canonicalize().map_err(io)?;
    let metadata = std::fs::metadata(&canonical).map_err(io)?;
    if !metadata.is_dir() {
        return Err(CacheDirError::NotDirectory { path: canonical });
    }
    let user = nix::unistd::geteuid().as_raw();
    if metadata.uid() != user {
        return Err(CacheDirError::ForeignOwner { path: canonical, owner: metadata.uid(), user });
    }
    let writable = |path: &Path, mode: u32, mask: u32| {
        let who = match (mode & mask & 0o020 != 0, mode & mask & 0o002 != 0) {
            (false, false) => return Ok(()),
            (true, false) => "group",
            (false, true) => "others",
            (true, true) => "group and others",
        };
        Err(CacheDirError::Writable { path: path.to_owned(), dir: dir.to_owned(), who, mode: mode & 0o7777 })
    };
    writable(&canonical, metadata.mode(), 0o022)?;
    for parent in canonical.ancestors().skip(1) {
        let mode = std::fs::metadata(parent).map_err(io)?.mode();
        if mode & 0o1000 == 0 {
            writable(parent, mode, 0o002)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CacheDirError, ensure_private};
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_missing_directory_is_created_private_and_a_shared_one_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/cache");
        ensure_private(&dir).unwrap();
        for created in [root.path().join("a"), root.path().join("a/b"), dir.clone()] {
            assert_eq!(std::fs::metadata(&created).unwrap().permissions().mode() & 0o7777, 0o700, "{created:?}");
        }

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = ensure_private(&dir).unwrap_err();
        assert!(matches!(refused, CacheDirError::Writable { who: "group and others", mode: 0o777, .. }));
        assert!(refused.to_string().contains("is writable by group and others (mode 0777)"), "{refused}");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(root.path().join("a"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = ensure_private(&dir).unwrap_err();
        assert!(refused.to_string().contains("/a is writable by others (mode 0777)"), "{refused}");

        std::fs::set_permissions(root.path().join("a"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure_private(&dir).unwrap();

        let file = root.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(ensure_private(&file).is_err());
    }
}
