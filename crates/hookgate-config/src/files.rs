//! Reads of the files a tenant folder names, contained and bounded.
//!
//! Every file a tenant names (its `tenant.toml`, policy modules, secret files, test case files
//! and test payloads) is read through [`TenantFiles::read`], which:
//!
//! - refuses a name with a `..` component, and an absolute name (except a secret file inside
//!   the operator's `[tenants] secrets_dir`);
//! - resolves the name with every symbolic link followed and refuses it unless it lands inside
//!   the tenant folder's own resolved path (or, for a secret file, inside `secrets_dir`), and
//!   checks again, on Linux, the path of the file actually opened (`/proc/self/fd`);
//! - opens without blocking (`O_NONBLOCK`: a FIFO does not stop the reader) and without
//!   following a last-moment link (`O_NOFOLLOW`), and requires a regular file by `fstat` of
//!   the opened handle (no FIFO, device, `/dev/zero` or folder);
//! - reads at most the kind's size cap plus one byte, and refuses a larger file.
//!
//! Errors name the file as the tenant wrote it and the rule it breaks, never what it holds or
//! where a link points. The reads block: callers run them off the async workers.

use crate::TenantBounds;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

/// What a file is for: it sets the size cap and whether `secrets_dir` may hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `tenant.toml`.
    Manifest,
    /// A policy module (`.wasm`).
    Module,
    /// A secret: `settings_from_file`, `hmac_key_file`, `basic_password_file`.
    Secret,
    /// A test case file, `tests/*.json`.
    Cases,
    /// A test case's `payload_file`.
    Payload,
}

/// Why a file a tenant names cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// An absolute path where only names inside the tenant folder are accepted.
    #[error("'{}' is an absolute path: a tenant names files inside its folder{}", .named.display(), secrets_hint(*.kind))]
    Absolute {
        /// The name as written.
        named: PathBuf,
        /// What the file is for.
        kind: FileKind,
    },
    /// A name with a `..` component.
    #[error("'{}' contains '..': a tenant names files inside its folder, without '..'", .named.display())]
    Parent {
        /// The name as written.
        named: PathBuf,
    },
    /// The name resolves (through a symbolic link) outside every folder it may be in.
    #[error("'{}' resolves outside {} (through a symbolic link): a tenant's files must stay inside it", .named.display(), allowed(*.secrets_dir))]
    Outside {
        /// The name as written.
        named: PathBuf,
        /// Whether the operator's `secrets_dir` could have held it.
        secrets_dir: bool,
    },
    /// A FIFO, device, socket or folder.
    #[error("'{}' is not a regular file", .named.display())]
    NotRegular {
        /// The name as written.
        named: PathBuf,
    },
    /// Larger than the kind's cap.
    #[error("'{}' is larger than {cap} bytes ({key})", .named.display())]
    TooLarge {
        /// The name as written.
        named: PathBuf,
        /// The cap, in bytes.
        cap: u64,
        /// What sets the cap, e.g. `[tenants] max_secret_kb in hookgate.toml`.
        key: &'static str,
    },
    /// The file (or the folder it must be in) cannot be resolved, opened or read.
    #[error("cannot read '{}': {source}", .named.display())]
    Io {
        /// The name as written.
        named: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn secrets_hint(kind: FileKind) -> &'static str {
    if kind == FileKind::Secret {
        " (or a secret inside [tenants] secrets_dir, when hookgate.toml sets one)"
    } else {
        ""
    }
}

fn allowed(secrets_dir: bool) -> &'static str {
    if secrets_dir { "the tenant folder and [tenants] secrets_dir" } else { "the tenant folder" }
}

/// The files of one tenant folder, read within the operator's bounds.
#[derive(Debug, Clone, Copy)]
pub struct TenantFiles<'a> {
    dir: &'a Path,
    bounds: &'a TenantBounds,
}

impl<'a> TenantFiles<'a> {
    /// The files of the tenant folder `dir`.
    pub fn new(dir: &'a Path, bounds: &'a TenantBounds) -> TenantFiles<'a> {
        TenantFiles { dir, bounds }
    }

    /// Checks a name without touching the disk: no `..`, and relative unless it is a secret
    /// and the operator has a `secrets_dir`.
    pub fn check_name(&self, named: &Path, kind: FileKind) -> Result<(), FileError> {
        if named.components().any(|c| c == Component::ParentDir) {
            return Err(FileError::Parent { named: named.to_owned() });
        }
        let secret_allowed = kind == FileKind::Secret && self.bounds.secrets_dir.is_some();
        if named.is_absolute() && !secret_allowed {
            return Err(FileError::Absolute { named: named.to_owned(), kind });
        }
        Ok(())
    }

    /// Reads the file `named` (relative to the tenant folder) under the rules of the module
    /// documentation.
    pub fn read(&self, named: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
        self.read_in(Path::new(""), named, kind)
    }

    /// Reads the file `named` relative to the sub-folder `base` of the tenant folder (a test
    /// case's `payload_file` is relative to `tests/`); errors show `named` as written.
    pub fn read_in(&self, base: &Path, named: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
        self.check_name(named, kind)?;
        let io = |source| FileError::Io { named: named.to_owned(), source };
        let root = self.dir.canonicalize().map_err(io)?;
        let secrets = match (&self.bounds.secrets_dir, kind) {
            (Some(dir), FileKind::Secret) => Some(dir.canonicalize().map_err(|source| FileError::Io {
                named: dir.clone(),
                source: std::io::Error::new(source.kind(), format!("[tenants] secrets_dir: {source}")),
            })?),
            _ => None,
        };
        let inside = |path: &Path| path.starts_with(&root) || secrets.as_ref().is_some_and(|dir| path.starts_with(dir));
        let resolved = root.join(base).join(named).canonicalize().map_err(io)?;
        if !inside(&resolved) {
            return Err(FileError::Outside { named: named.to_owned(), secrets_dir: secrets.is_some() });
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(&resolved)
            .map_err(io)?;
        // A folder on the way swapped for a link after `canonicalize` would escape: check the
        // path of what was opened, where the system tells it.
        if let Some(opened) = opened_path(&file)
            && !inside(&opened)
        {
            return Err(FileError::Outside { named: named.to_owned(), secrets_dir: secrets.is_some() });
        }
        let (cap, key) = self.bounds.cap(kind);
        read_opened(file, named, cap, key)
    }
}

/// Reads a file the operator names (`hookgate.toml`'s own key and password files): symbolic
/// links are followed (the operator is trusted with paths), but the file must be a regular file
/// of at most `cap` bytes (`key` names the setting in errors), opened without blocking on a FIFO.
pub fn read_operator_file(path: &Path, cap: u64, key: &'static str) -> Result<Vec<u8>, FileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| FileError::Io { named: path.to_owned(), source })?;
    read_opened(file, path, cap, key)
}

/// The bytes of an opened file: a regular file (by `fstat` of the handle) of at most `cap` bytes.
fn read_opened(file: File, named: &Path, cap: u64, key: &'static str) -> Result<Vec<u8>, FileError> {
    let io = |source| FileError::Io { named: named.to_owned(), source };
    let too_large = || FileError::TooLarge { named: named.to_owned(), cap, key };
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(FileError::NotRegular { named: named.to_owned() });
    }
    if metadata.len() > cap {
        return Err(too_large());
    }
    // The size can change after fstat (and /proc files claim 0): read one byte past the cap.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The path of an open file as the kernel knows it (Linux), if it can tell.
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd as _;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(test)]
mod tests {
    use super::{FileKind, TenantFiles};
    use crate::TenantBounds;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn tenant() -> (tempfile::TempDir, std::path::PathBuf) {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("app");
        std::fs::create_dir_all(dir.join("tests")).expect("tenant dir");
        std::fs::write(root.path().join("secret.key"), "operator secret").expect("outside file");
        (root, dir)
    }

    fn read(dir: &Path, bounds: &TenantBounds, named: &str, kind: FileKind) -> Result<Vec<u8>, String> {
        TenantFiles::new(dir, bounds).read(Path::new(named), kind).map_err(|err| err.to_string())
    }

    #[test]
    fn a_file_inside_is_read() {
        let (_root, dir) = tenant();
        std::fs::write(dir.join("token.secret"), "s3cret\n").expect("write");
        std::fs::write(dir.join("tests/p.json"), "{}").expect("write");
        let bounds = TenantBounds::default();
        assert_eq!(read(&dir, &bounds, "token.secret", FileKind::Secret).as_deref(), Ok(&b"s3cret\n"[..]));
        assert_eq!(read(&dir, &bounds, "./tests/p.json", FileKind::Payload).as_deref(), Ok(&b"{}"[..]));
        symlink("token.secret", dir.join("link.secret")).expect("symlink");
        assert_eq!(read(&dir, &bounds, "link.secret", FileKind::Secret).as_deref(), Ok(&b"s3cret\n"[..]));
    }

    #[test]
    fn escapes_are_refused_by_rule() {
        let (root, dir) = tenant();
        let bounds = TenantBounds::default();
        let outside = root.path().join("secret.key");
        symlink(&outside, dir.join("out.secret")).expect("symlink");
        symlink(root.path(), dir.join("up")).expect("symlink");
        for (named, kind, expected) in [
            (
                "../secret.key",
                FileKind::Secret,
                "'../secret.key' contains '..': a tenant names files inside its folder, without '..'",
            ),
            (
                "tests/../../secret.key",
                FileKind::Payload,
                "'tests/../../secret.key' contains '..': a tenant names files inside its folder, without '..'",
            ),
            (
                outside.to_str().expect("utf-8"),
                FileKind::Payload,
                &format!("'{}' is an absolute path: a tenant names files inside its folder", outside.display()),
            ),
            (
                outside.to_str().expect("utf-8"),
                FileKind::Secret,
                &format!(
                    "'{}' is an absolute path: a tenant names files inside its folder (or a secret inside \
                     [tenants] secrets_dir, when hookgate.toml sets one)",
                    outside.display()
                ),
            ),
            (
                "out.secret",
                FileKind::Secret,
                "'out.secret' resolves outside the tenant folder (through a symbolic link): a tenant's files \
                 must stay inside it",
            ),
            (
                "up/secret.key",
                FileKind::Module,
                "'up/secret.key' resolves outside the tenant folder (through a symbolic link): a tenant's files \
                 must stay inside it",
            ),
        ] {
            let err = read(&dir, &bounds, named, kind).expect_err(named);
            assert_eq!(err, expected);
            assert!(!err.contains("operator secret"), "{err}");
        }
    }

    #[test]
    fn secrets_dir_holds_secrets_only() {
        let (root, dir) = tenant();
        let bounds = TenantBounds { secrets_dir: Some(root.path().to_owned()), ..TenantBounds::default() };
        let outside = root.path().join("secret.key");
        symlink(&outside, dir.join("out.secret")).expect("symlink");
        let absolute = outside.to_str().expect("utf-8");
        assert_eq!(read(&dir, &bounds, absolute, FileKind::Secret).as_deref(), Ok(&b"operator secret"[..]));
        assert_eq!(read(&dir, &bounds, "out.secret", FileKind::Secret).as_deref(), Ok(&b"operator secret"[..]));
        assert_eq!(
            read(&dir, &bounds, "out.secret", FileKind::Module).expect_err("a module from secrets_dir"),
            "'out.secret' resolves outside the tenant folder (through a symbolic link): a tenant's files must \
             stay inside it"
        );
        let elsewhere = tempfile::tempdir().expect("temp dir");
        std::fs::write(elsewhere.path().join("other.key"), "x").expect("write");
        let other = elsewhere.path().join("other.key");
        assert_eq!(
            read(&dir, &bounds, other.to_str().expect("utf-8"), FileKind::Secret).expect_err("outside both"),
            format!(
                "'{}' resolves outside the tenant folder and [tenants] secrets_dir (through a symbolic link): \
                 a tenant's files must stay inside it",
                other.display()
            )
        );
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let (_root, dir) = tenant();
        let fifo = dir.join("settings.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
        assert!(made.success());
        let started = Instant::now();
        let err = read(&dir, &TenantBounds::default(), "settings.fifo", FileKind::Secret).expect_err("a FIFO");
        assert_eq!(err, "'settings.fifo' is not a regular file");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }

    #[test]
    fn devices_and_folders_are_refused() {
        let (_root, dir) = tenant();
        symlink("/dev/zero", dir.join("zero.wasm")).expect("symlink");
        let bounds = TenantBounds::default();
        // /dev is outside the tenant: refused before it is opened.
        assert_eq!(
            read(&dir, &bounds, "zero.wasm", FileKind::Module).expect_err("/dev/zero"),
            "'zero.wasm' resolves outside the tenant folder (through a symbolic link): a tenant's files must \
             stay inside it"
        );
        // Inside the operator's secrets_dir, still not a regular file.
        let dev = TenantBounds { secrets_dir: Some("/dev".into()), ..TenantBounds::default() };
        assert_eq!(
            read(&dir, &dev, "/dev/zero", FileKind::Secret).expect_err("/dev/zero"),
            "'/dev/zero' is not a regular file"
        );
        assert_eq!(
            read(&dir, &bounds, "tests", FileKind::Cases).expect_err("a folder"),
            "'tests' is not a regular file"
        );
    }

    #[test]
    fn a_file_past_its_cap_is_refused() {
        let (_root, dir) = tenant();
        std::fs::write(dir.join("big.secret"), vec![b'x'; 2049]).expect("write");
        std::fs::write(dir.join("fits.secret"), vec![b'x'; 2048]).expect("write");
        let bounds = TenantBounds { max_secret_kb: 2, ..TenantBounds::default() };
        assert_eq!(
            read(&dir, &bounds, "big.secret", FileKind::Secret).expect_err("too large"),
            "'big.secret' is larger than 2048 bytes ([tenants] max_secret_kb in hookgate.toml)"
        );
        assert_eq!(read(&dir, &bounds, "fits.secret", FileKind::Secret).map(|b| b.len()), Ok(2048));
    }

    #[test]
    fn a_missing_file_names_itself_only() {
        let (_root, dir) = tenant();
        assert_eq!(
            read(&dir, &TenantBounds::default(), "missing.wasm", FileKind::Module).expect_err("missing"),
            "cannot read 'missing.wasm': No such file or directory (os error 2)"
        );
    }
}
