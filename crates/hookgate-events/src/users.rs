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
//! **Reloading.** The file is a [`Reloading`] value: every request that needs the directory
//! first `stat`s the file and reads it again if it changed; a file that no longer parses, or has
//! vanished, leaves the last good directory in force (see [`crate::reload`]).

use crate::errors::EventsError;
use crate::reload::Reloading;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

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

/// The directory, reloaded when its file changes.
pub(crate) struct UserDirectory(Reloading<HashMap<String, Arc<UserEntry>>>);

impl UserDirectory {
    /// Reads the directory; a missing or malformed file is an error at start.
    pub(crate) fn load(path: &Path) -> Result<Self, EventsError> {
        Reloading::load(path, "user directory", read).map(UserDirectory)
    }

    /// The user's rights, from the file as it is now.
    pub(crate) fn lookup(&self, user_id: &str) -> Option<Arc<UserEntry>> {
        self.0.current().get(user_id).cloned()
    }
}

fn read(path: &Path) -> Result<HashMap<String, Arc<UserEntry>>, EventsError> {
    let text = std::fs::read_to_string(path).map_err(|source| EventsError::Read { path: path.to_owned(), source })?;
    let malformed = |message: String| EventsError::Directory { path: path.to_owned(), message };
    let file: DirectoryFile = if path.extension().is_some_and(|ext| ext == "json") {
        serde_json::from_str(&text).map_err(|err| malformed(err.to_string()))?
    } else {
        toml::from_str(&text).map_err(|err| malformed(err.to_string().trim_end().to_owned()))?
    };
    Ok(file.users.into_iter().map(|(id, entry)| (id, Arc::new(entry))).collect())
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
