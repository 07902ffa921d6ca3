//! The user directory: which appKeys (tenants) each user may watch.
//!
//! ```toml
//! [users."5dad615eae019570fb4647ed"]            # the token's data.id (or sub)
//! app_keys = ["defaultApp"]                       # tenants whose events this user may attach
//! events = ["StreamStatusEvent", "notification"]  # optional: the only event types allowed
//! ```
//!
//! A file ending in `.json` holds the same shape as JSON (`{"users": {"<id>": {"app_keys": […]}}}`).
//!
//! **Reloading.** Every request that needs the directory first compares the file's metadata
//! (inode, size, mtime, ctime) with the last read; a change reloads it. A `stat` costs about a
//! microsecond, next to the token's signature check; it sees every kind of replacement (editing
//! in place, `mv` into place, a Kubernetes ConfigMap's symlink swap) on any file system, with no
//! watcher task and without bringing `notify` into a second crate (`hookgate-registry` owns it).
//! A file that no longer parses, or has vanished, leaves the last good directory in force and
//! is logged once per change.

use crate::errors::EventsError;
use serde::Deserialize;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// One user's rights.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserEntry {
    /// appKeys whose events the user may attach.
    pub(crate) app_keys: Vec<String>,
    /// When set, the only event types the user may attach.
    #[serde(default)]
    pub(crate) events: Option<Vec<String>>,
}

impl UserEntry {
    /// Whether the user may attach events of this type.
    pub(crate) fn may_watch_type(&self, event_type: &str) -> bool {
        self.events.as_ref().is_none_or(|types| types.iter().any(|allowed| allowed == event_type))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    users: HashMap<String, UserEntry>,
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
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The directory, reloaded when its file changes.
pub(crate) struct UserDirectory {
    path: PathBuf,
    current: Mutex<Loaded>,
}

struct Loaded {
    /// The stamp last looked at, read successfully or not (so a broken file is parsed and
    /// logged once, not on every request).
    stamp: Option<Stamp>,
    users: Arc<HashMap<String, Arc<UserEntry>>>,
}

impl UserDirectory {
    /// Reads the directory; a missing or malformed file is an error at start.
    pub(crate) fn load(path: &Path) -> Result<Self, EventsError> {
        let meta = std::fs::metadata(path).map_err(|source| EventsError::Read { path: path.to_owned(), source })?;
        let users = read(path)?;
        Ok(UserDirectory {
            path: path.to_owned(),
            current: Mutex::new(Loaded { stamp: Some(Stamp::of(&meta)), users }),
        })
    }

    /// The user's rights, from the file as it is now.
    pub(crate) fn lookup(&self, user_id: &str) -> Option<Arc<UserEntry>> {
        let stamp = std::fs::metadata(&self.path).ok().map(|meta| Stamp::of(&meta));
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if stamp != current.stamp {
            current.stamp = stamp;
            match stamp.map(|_| read(&self.path)) {
                Some(Ok(users)) => {
                    tracing::info!(path = %self.path.display(), users = users.len(), "user directory reloaded");
                    current.users = users;
                }
                Some(Err(err)) => {
                    tracing::error!(error = %err, "user directory not reloaded; the last good one stays in force");
                }
                None => {
                    tracing::error!(path = %self.path.display(), "user directory vanished; the last good one stays in force")
                }
            }
        }
        current.users.get(user_id).cloned()
    }
}

fn read(path: &Path) -> Result<Arc<HashMap<String, Arc<UserEntry>>>, EventsError> {
    let text = std::fs::read_to_string(path).map_err(|source| EventsError::Read { path: path.to_owned(), source })?;
    let malformed = |message: String| EventsError::Directory { path: path.to_owned(), message };
    let file: DirectoryFile = if path.extension().is_some_and(|ext| ext == "json") {
        serde_json::from_str(&text).map_err(|err| malformed(err.to_string()))?
    } else {
        toml::from_str(&text).map_err(|err| malformed(err.to_string().trim_end().to_owned()))?
    };
    Ok(Arc::new(file.users.into_iter().map(|(id, entry)| (id, Arc::new(entry))).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_reloaded_and_a_broken_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        std::fs::write(&path, "[users.u1]\napp_keys = [\"a\"]\n").expect("write");
        let directory = UserDirectory::load(&path).expect("load");
        assert_eq!(directory.lookup("u1").expect("u1").app_keys, ["a"]);
        assert!(directory.lookup("u2").is_none());

        let next = dir.path().join("next");
        std::fs::write(&next, "[users.u2]\napp_keys = [\"b\"]\nevents = [\"notification\"]\n").expect("write");
        std::fs::rename(&next, &path).expect("rename");
        let u2 = directory.lookup("u2").expect("u2 after reload");
        assert!(u2.may_watch_type("notification") && !u2.may_watch_type("StreamStatusEvent"));
        assert!(directory.lookup("u1").is_none());

        std::fs::write(&next, "[users.u3]\napp_key = [\"typo\"]\n").expect("write");
        std::fs::rename(&next, &path).expect("rename");
        assert!(directory.lookup("u2").is_some(), "a broken file keeps the last good directory");
    }

    #[test]
    fn json_directories_and_precise_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.json");
        std::fs::write(&path, r#"{"users": {"u1": {"app_keys": ["a"]}}}"#).expect("write");
        assert!(UserDirectory::load(&path).expect("load").lookup("u1").is_some());
        std::fs::write(&path, r#"{"users": {"u1": {"appKeys": ["a"]}}}"#).expect("write");
        let err = UserDirectory::load(&path).err().expect("unknown field");
        assert!(err.to_string().contains("appKeys"), "{err}");
    }
}
