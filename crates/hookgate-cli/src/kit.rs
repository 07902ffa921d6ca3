//! The author kit: the WIT, the Rust SDK, the build recipes of Python, JavaScript and C and the
//! templates, which `hookgate new` and `hookgate build` use outside a hookgate checkout
//! (`make kit` writes it to `target/kit/`; the package installs it as `/usr/share/hookgate/`).

use std::path::{Path, PathBuf};

/// The variable that names the kit's folder, before the places beside the binary.
pub(crate) const KIT_VAR: &str = "HOOKGATE_KIT";

/// A file every kit holds: what tells a kit from another folder.
const MARKER: &str = "wit/hookgate.wit";

/// The kit's folder.
#[derive(Debug, Clone)]
pub(crate) struct Kit {
    root: PathBuf,
}

/// No kit where one was looked for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KitError {
    /// `$HOOKGATE_KIT` is set but names no kit.
    #[error("{KIT_VAR}={} holds no author kit (no {MARKER} in it); `make kit` writes one to target/kit", .0.display())]
    NotAKit(PathBuf),
    /// None of the places beside the binary holds a kit.
    #[error(
        "no author kit found: {KIT_VAR} is not set, and neither {} (an installed hookgate) nor {} \
         (a source build, after `make kit`) holds {MARKER}; install the hookgate package, run `make kit` \
         in the hookgate sources, or set {KIT_VAR} to the kit's folder",
        .installed.display(),
        .source_build.display()
    )]
    NotFound {
        /// `<dir of the binary>/../share/hookgate`.
        installed: PathBuf,
        /// `<dir of the binary>/../kit`.
        source_build: PathBuf,
    },
    /// The binary's own path is unknown, so the places beside it are too.
    #[error("{KIT_VAR} is not set and the path of the hookgate binary is unknown ({0}): set {KIT_VAR}")]
    NoExe(std::io::Error),
}

impl Kit {
    /// Finds the kit: `$HOOKGATE_KIT`, else `<dir of exe>/../share/hookgate` (installed), else
    /// `<dir of exe>/../kit` (a source build: `target/release/hookgate` → `target/kit`). Warns
    /// on stderr when the kit is of another hookgate version.
    pub(crate) fn find() -> Result<Kit, KitError> {
        let kit = Kit::look()?;
        if let Some(version) = kit.version_mismatch() {
            eprintln!(
                "warning: the author kit at {} is of hookgate {version}, this binary is {}",
                kit.root.display(),
                env!("CARGO_PKG_VERSION")
            );
        }
        Ok(kit)
    }

    /// The kit in the first place that holds one.
    fn look() -> Result<Kit, KitError> {
        if let Some(dir) = std::env::var_os(KIT_VAR).filter(|dir| !dir.is_empty()) {
            let root = PathBuf::from(dir);
            return Kit::at(&root).ok_or(KitError::NotAKit(root));
        }
        let exe = std::env::current_exe().and_then(|exe| exe.canonicalize()).map_err(KitError::NoExe)?;
        let up = exe.parent().and_then(Path::parent).unwrap_or(Path::new("/"));
        let installed = up.join("share/hookgate");
        let source_build = up.join("kit");
        Kit::at(&installed).or_else(|| Kit::at(&source_build)).ok_or(KitError::NotFound { installed, source_build })
    }

    /// The kit at `root`, if it holds one.
    fn at(root: &Path) -> Option<Kit> {
        root.join(MARKER).is_file().then(|| Kit { root: std::path::absolute(root).unwrap_or_else(|_| root.to_owned()) })
    }

    /// A path inside the kit.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The kit's folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The target folder of the source build the kit belongs to (`target/` of `target/kit`),
    /// where `make guests` installs the guest toolchains; `None` for an installed kit.
    pub(crate) fn checkout_target(&self) -> Option<&Path> {
        self.root.file_name().filter(|name| *name == "kit").and(self.root.parent())
    }

    /// The hookgate version the kit was made with (its `VERSION` file), when it differs from
    /// this binary's: a kit and a binary of different releases may disagree on the contract.
    fn version_mismatch(&self) -> Option<String> {
        let version = std::fs::read_to_string(self.path("VERSION")).ok()?;
        let version = version.trim();
        (version != env!("CARGO_PKG_VERSION")).then(|| version.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::{Kit, KitError};
    use std::path::{Path, PathBuf};

    #[test]
    fn a_folder_without_the_wit_is_no_kit() {
        let dir = std::env::temp_dir().join(format!("hookgate-kit-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("wit")).unwrap();
        assert!(Kit::at(&dir).is_none());
        std::fs::write(dir.join("wit/hookgate.wit"), "package hookgate:policy@0.1.0;\n").unwrap();
        let kit = Kit::at(&dir).expect("a kit");
        assert_eq!(kit.path("c/build.sh"), dir.join("c/build.sh"));
        assert_eq!(kit.checkout_target(), None, "not a source build's target/kit");
        assert_eq!(Kit { root: PathBuf::from("/src/target/kit") }.checkout_target(), Some(Path::new("/src/target")));
        assert_eq!(kit.version_mismatch(), None, "no VERSION file: nothing to compare");
        std::fs::write(dir.join("VERSION"), "0.0.1\n").unwrap();
        assert_eq!(kit.version_mismatch().as_deref(), Some("0.0.1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_error_names_every_place_looked_at() {
        let err = KitError::NotFound {
            installed: PathBuf::from("/usr/share/hookgate"),
            source_build: PathBuf::from("/src/target/kit"),
        };
        let text = err.to_string();
        for place in ["HOOKGATE_KIT", "/usr/share/hookgate", "/src/target/kit", "make kit"] {
            assert!(text.contains(place), "{text}");
        }
    }
}
