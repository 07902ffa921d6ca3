//! [`Reloading`]: a value read from a file, and read again when the file changes. The user
//! directory and every token verification key are held this way.
//!
//! Every use first compares the file's metadata (device, inode, size, mtime, ctime) with the
//! last look; a change reads it again. A `stat` costs about a microsecond, next to a token's
//! signature check; it sees every kind of replacement (editing in place, `mv` into place, a
//! Kubernetes ConfigMap's symlink swap) on any file system, with no watcher task and without
//! bringing `notify` into a second crate (`hookgate-registry` owns it). A file that no longer
//! reads or parses, or has vanished, leaves the last good value in force and is logged once
//! per change (the stamp is remembered whether the read succeeded or not).

use crate::errors::EventsError;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Reads a file into the value it holds.
type Reader<T> = Box<dyn Fn(&Path) -> Result<T, EventsError> + Send + Sync>;

/// A value read from `path`, reloaded when the file changes.
pub(crate) struct Reloading<T> {
    path: PathBuf,
    /// What the file holds, for the log ("user directory", "RS256 key").
    what: String,
    read: Reader<T>,
    current: Mutex<Loaded<T>>,
}

struct Loaded<T> {
    /// The stamp last looked at, read successfully or not.
    stamp: Option<Stamp>,
    value: Arc<T>,
}

/// The file's identity and version as `stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl<T> Reloading<T> {
    /// Reads the file once with `read`; a missing or unusable file is an error (at start).
    pub(crate) fn load(
        path: &Path,
        what: impl Into<String>,
        read: impl Fn(&Path) -> Result<T, EventsError> + Send + Sync + 'static,
    ) -> Result<Self, EventsError> {
        let stamp = Stamp::of(path).map_err(|source| EventsError::Read { path: path.to_owned(), source })?;
        let value = Arc::new(read(path)?);
        Ok(Reloading {
            path: path.to_owned(),
            what: what.into(),
            read: Box::new(read),
            current: Mutex::new(Loaded { stamp: Some(stamp), value }),
        })
    }

    /// The value as the file holds it now (or the last good one, if the file is now unusable).
    pub(crate) fn current(&self) -> Arc<T> {
        let stamp = Stamp::of(&self.path).ok();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if stamp != current.stamp {
            current.stamp = stamp;
            let what = &self.what;
            match stamp.map(|_| (self.read)(&self.path)) {
                Some(Ok(value)) => {
                    tracing::info!(path = %self.path.display(), "{what} reloaded");
                    current.value = Arc::new(value);
                }
                Some(Err(err)) => tracing::error!(
                    error = %hookgate_config::error_chain(&err),
                    "{what} not reloaded; the last good one stays in force"
                ),
                None => {
                    tracing::error!(path = %self.path.display(), "{what} vanished; the last good one stays in force")
                }
            }
        }
        current.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &Path) -> Result<u32, EventsError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| EventsError::Read { path: path.to_owned(), source })?;
        text.trim()
            .parse()
            .map_err(|_| EventsError::Directory { path: path.to_owned(), message: "not a number".into() })
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_or_vanished_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n");
        assert!(matches!(Reloading::load(&path, "number", parse), Err(EventsError::Read { .. })), "missing at start");
        std::fs::write(&path, "1").expect("write");
        let number = Reloading::load(&path, "number", parse).expect("load");
        assert_eq!(*number.current(), 1);

        let next = dir.path().join("next");
        std::fs::write(&next, "2").expect("write");
        std::fs::rename(&next, &path).expect("rename");
        assert_eq!(*number.current(), 2, "mv into place");
        std::fs::write(&path, "3").expect("write in place");
        assert_eq!(*number.current(), 3, "edited in place");
        std::fs::write(&path, "three").expect("write");
        assert_eq!(*number.current(), 3, "a broken file keeps the last good value");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(*number.current(), 3, "so does a vanished one");
        std::fs::write(&path, "4").expect("write");
        assert_eq!(*number.current(), 4, "and a good file is read again");
    }
}
