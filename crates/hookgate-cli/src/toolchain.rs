//! The guest languages and their toolchains: which language a policy folder is written in,
//! where the tools that build it are, and the build itself (Rust through
//! `hookgate_build::build_rust_policy`; Python, JavaScript and C through the kit's recipe,
//! `<kit>/<lang>/build.sh`, the one `plugins/<lang>/build.sh` of the hookgate sources).
//! Tools are found by their variable, else on `PATH`, else where a hookgate checkout's
//! `make guests` installs them (beside the source build's kit, `target/kit`).

use crate::kit::Kit;
use anyhow::{Context as _, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A guest language with a template and a build.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with the hookgate SDK.
    Rust,
    /// Python, built by componentize-py.
    Python,
    /// JavaScript, built by componentize-js.
    Js,
    /// C, built by clang for wasm32-wasi.
    C,
}

impl Lang {
    /// Every language.
    pub(crate) const ALL: [Lang; 4] = [Lang::Rust, Lang::Python, Lang::Js, Lang::C];

    /// The language's folder in the kit and in `templates/`.
    pub(crate) fn folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }

    /// The language's name in prose.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        }
    }

    /// The file whose presence says a policy folder is in this language (the template writes it).
    pub(crate) fn marker(self) -> &'static str {
        match self {
            Lang::Rust => "Cargo.toml",
            Lang::Python => "app.py",
            Lang::Js => "policy.js",
            Lang::C => "policy.c",
        }
    }

    /// The policy's source file of the template.
    pub(crate) fn source(self) -> &'static str {
        match self {
            Lang::Rust => "src/lib.rs",
            lang => lang.marker(),
        }
    }

    /// The tools the build needs, in prose.
    pub(crate) fn toolchain(self) -> &'static str {
        match self {
            Lang::Rust => "cargo with the wasm32-unknown-unknown target",
            Lang::Python => "componentize-py",
            Lang::Js => "componentize-js and node",
            Lang::C => "clang with wasi-libc, wit-bindgen and wasm-tools",
        }
    }

    /// The language of the policy folder `dir`, from its marker file.
    pub(crate) fn detect(dir: &Path) -> Result<Lang> {
        if !dir.is_dir() {
            bail!("{} is not a folder", dir.display());
        }
        let found: Vec<Lang> = Lang::ALL.into_iter().filter(|lang| dir.join(lang.marker()).is_file()).collect();
        match found[..] {
            [lang] => Ok(lang),
            [] => bail!(
                "{} holds no policy: none of {} (give the language with --lang)",
                dir.display(),
                Lang::ALL.map(Lang::marker).join(", ")
            ),
            _ => bail!(
                "{} holds the files of several languages ({}): give the language with --lang",
                dir.display(),
                found.iter().map(|lang| lang.marker()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// An external tool a build runs.
struct Tool {
    /// The command's name on `PATH`.
    command: &'static str,
    /// The variable that names it, before `PATH`.
    var: &'static str,
    /// Where `make guests` installs it, relative to the folder of a source build's kit
    /// (`target/`), if it does.
    in_checkout: Option<&'static str>,
    /// How to get it.
    install: &'static str,
}

/// A [`Tool`], in one line.
const fn tool(
    command: &'static str,
    var: &'static str,
    in_checkout: Option<&'static str>,
    install: &'static str,
) -> Tool {
    Tool { command, var, in_checkout, install }
}

const CARGO: Tool = tool(
    "cargo",
    "CARGO",
    None,
    "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-unknown-unknown`",
);
const COMPONENTIZE_PY: Tool = tool(
    "componentize-py",
    "COMPONENTIZE_PY",
    Some("guest-toolchains/venv/bin/componentize-py"),
    "`python3 -m venv ~/.componentize-py && ~/.componentize-py/bin/pip install componentize-py==0.25.1` \
     (PyPI), then put ~/.componentize-py/bin on PATH",
);
const COMPONENTIZE_JS: Tool = tool(
    "componentize-js",
    "COMPONENTIZE_JS",
    Some("../plugins/js/node_modules/.bin/componentize-js"),
    "`npm install -g @bytecodealliance/componentize-js@0.23.0` (npm)",
);
const NODE: Tool = tool("node", "NODE", None, "Node.js 18 or newer: `apt-get install nodejs` (Debian)");
const CLANG: Tool = tool(
    "clang",
    "CLANG",
    None,
    "`apt-get install clang lld wasi-libc libclang-rt-dev-wasm32` (Debian), \
     or wasi-sdk's clang with WASI_SYSROOT set to its sysroot",
);
const WIT_BINDGEN: Tool = tool(
    "wit-bindgen",
    "WIT_BINDGEN",
    Some("guest-toolchains/bin/wit-bindgen"),
    "`cargo install --locked wit-bindgen-cli@0.63.0 --no-default-features --features c` (crates.io)",
);
const WASM_TOOLS: Tool = tool(
    "wasm-tools",
    "WASM_TOOLS",
    Some("guest-toolchains/bin/wasm-tools"),
    "`cargo install --locked wasm-tools@1.262.0` (crates.io)",
);

/// A tool that is not where it was looked for.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("{var}={} is not an executable file", .path.display())]
    NotExecutable { var: &'static str, path: PathBuf },
    #[error("{command} not found: {var} is not set, it is not on PATH{}; get it with {install}",
        .checkout.as_ref().map(|p| format!(", nor at {}", p.display())).unwrap_or_default())]
    Missing { command: &'static str, var: &'static str, checkout: Option<PathBuf>, install: &'static str },
}

impl Tool {
    /// The tool's path: `$VAR`, else on `PATH`, else in a checkout beside `kit`.
    fn find(&self, kit: Option<&Kit>) -> Result<PathBuf, ToolError> {
        if let Some(path) = std::env::var_os(self.var).filter(|path| !path.is_empty()) {
            let path = PathBuf::from(path);
            return match on_path(path.as_os_str()) {
                Some(found) => Ok(found),
                None => Err(ToolError::NotExecutable { var: self.var, path }),
            };
        }
        if let Some(found) = on_path(self.command.as_ref()) {
            return Ok(found);
        }
        let checkout =
            self.in_checkout.zip(kit.and_then(Kit::checkout_target)).map(|(rel, dir)| lexical(&dir.join(rel)));
        match checkout {
            Some(path) if is_executable(&path) => Ok(path),
            checkout => {
                Err(ToolError::Missing { command: self.command, var: self.var, checkout, install: self.install })
            }
        }
    }
}

/// `name` as an executable: a path if it has a `/`, else looked up in `PATH`.
fn on_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    if Path::new(name).components().count() > 1 {
        return is_executable(Path::new(name)).then(|| PathBuf::from(name));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| is_executable(path))
}

/// `path` with its `.` and `..` resolved by name, not through the file system: `target/../plugins`
/// is the checkout's `plugins` even where `target` is a symbolic link.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::ParentDir if out.has_root() => {}
            part => out.push(part),
        }
    }
    out
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Checks that cargo is there and can build for `wasm32-unknown-unknown` (rustc's sysroot
/// holds its standard library), from `dir` (where a `rust-toolchain.toml` applies).
pub(crate) fn check_rust(dir: &Path) -> Result<()> {
    let cargo = CARGO.find(None)?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc).args(["--print", "sysroot"]).current_dir(dir).output().with_context(|| {
        format!("cannot run `{} --print sysroot` (cargo is {})", rustc.to_string_lossy(), cargo.display())
    })?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let std = sysroot.join("lib/rustlib").join(hookgate_build::TARGET);
    if !output.status.success() || !std.is_dir() {
        bail!(
            "the Rust standard library for {target} is not installed (no {}): `rustup target add {target}` \
             (without rustup: Debian's libstd-rust-dev-wasm32)",
            std.display(),
            target = hookgate_build::TARGET
        );
    }
    Ok(())
}

/// The variables the kit's recipe of `lang` reads: the tools found, and the kit's WIT.
pub(crate) fn recipe_env(lang: Lang, kit: &Kit) -> Result<Vec<(&'static str, OsString)>> {
    let tools: &[&Tool] = match lang {
        Lang::Rust => &[],
        Lang::Python => &[&COMPONENTIZE_PY],
        Lang::Js => &[&COMPONENTIZE_JS],
        Lang::C => &[&CLANG, &WIT_BINDGEN, &WASM_TOOLS],
    };
    let mut env = vec![("HOOKGATE_WIT", kit.path("wit").into_os_string())];
    for tool in tools {
        let path = tool.find(Some(kit)).with_context(|| format!("building a {} policy", lang.title()))?;
        env.push((tool.var, path.into_os_string()));
    }
    if lang == Lang::Js {
        // componentize-js is a node script (`#!/usr/bin/env node`): the node found goes first on PATH.
        let node = NODE.find(Some(kit)).context("building a JavaScript policy")?;
        let dirs = node.parent().map(Path::to_owned).into_iter();
        let path = std::env::var_os("PATH").unwrap_or_default();
        env.push(("PATH", std::env::join_paths(dirs.chain(std::env::split_paths(&path)))?));
    }
    if lang == Lang::C {
        let sysroot = std::env::var_os("WASI_SYSROOT").unwrap_or_else(|| OsString::from("/usr"));
        let header = Path::new(&sysroot).join("include/wasm32-wasi/stdlib.h");
        if !header.is_file() {
            bail!(
                "wasi-libc not found (no {}): {} (WASI_SYSROOT names another sysroot)",
                header.display(),
                CLANG.install
            );
        }
        env.push(("WASI_SYSROOT", sysroot));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(path: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)).unwrap()
    }

    /// The install hints pin the versions `.ci/guest-toolchains` and `plugins/js` install.
    #[test]
    fn install_hints_name_the_pinned_versions() {
        let script = repo_file(".ci/guest-toolchains");
        let pin = |var: &str| {
            let line = script.lines().find(|l| l.starts_with(&format!("{var}="))).unwrap();
            line[var.len() + 1..].split_whitespace().next().unwrap().to_owned()
        };
        assert!(COMPONENTIZE_PY.install.contains(&format!("componentize-py=={}", pin("COMPONENTIZE_PY"))));
        assert!(WIT_BINDGEN.install.contains(&format!("wit-bindgen-cli@{}", pin("WIT_BINDGEN"))));
        assert!(WASM_TOOLS.install.contains(&format!("wasm-tools@{}", pin("WASM_TOOLS"))));
        let package: serde_json::Value = serde_json::from_str(&repo_file("plugins/js/package.json")).unwrap();
        let js = package["devDependencies"]["@bytecodealliance/componentize-js"].as_str().unwrap();
        assert!(COMPONENTIZE_JS.install.contains(&format!("componentize-js@{js}")));
    }

    #[test]
    fn a_missing_tool_is_named_with_its_variable_and_how_to_get_it() {
        let tool = Tool { command: "hookgate-no-such-tool", var: "HOOKGATE_NO_SUCH_TOOL", ..WASM_TOOLS };
        let text = tool.find(None).unwrap_err().to_string();
        for part in ["hookgate-no-such-tool not found", "HOOKGATE_NO_SUCH_TOOL is not set", "cargo install"] {
            assert!(text.contains(part), "{text}");
        }
        assert_eq!(on_path("sh".as_ref()).map(|p| p.is_absolute()), Some(true));
        assert_eq!(lexical(Path::new("/src/crates/cli/../../target/../plugins/./js")), Path::new("/src/plugins/js"));
        assert_eq!(lexical(Path::new("/../a/..")), Path::new("/"));
    }

    #[test]
    fn detects_the_language_by_its_marker() {
        let dir = std::env::temp_dir().join(format!("hookgate-lang-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Lang::detect(&dir).unwrap_err().to_string().contains("holds no policy"));
        std::fs::write(dir.join("policy.js"), "").unwrap();
        assert_eq!(Lang::detect(&dir).unwrap(), Lang::Js);
        std::fs::write(dir.join("app.py"), "").unwrap();
        assert!(Lang::detect(&dir).unwrap_err().to_string().contains("several languages"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Lang::detect(&dir).unwrap_err().to_string().contains("is not a folder"));
    }
}
