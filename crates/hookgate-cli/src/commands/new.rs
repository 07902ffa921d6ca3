//! `hookgate new --lang rust|python|js|c NAME [--dir DIR]`: a new policy folder, from the
//! templates of the author kit (`templates/common/` and `templates/<lang>/`), that builds and
//! tests on its own wherever it is: `hookgate build . -o NAME.wasm`, then `hookgate test .`.
//! A Rust policy gets a copy of the kit's SDK (`vendor/`), its WIT (`wit/`) and the pinned
//! `Cargo.lock`, so that it builds without a hookgate checkout and keeps building across
//! hookgate upgrades.

use crate::kit::Kit;
use crate::toolchain::Lang;
use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `new`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The policy's language.
    #[arg(long, value_enum)]
    lang: Lang,
    /// The policy's name: lowercase letters, digits and '-', starting with a letter.
    name: String,
    /// The folder that gets the policy folder `NAME`: any folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// What the Rust template takes from the kit as it is: `(in the kit, in the policy folder)`.
/// The SDK finds the WIT at `../../wit` of its crate, in the kit and in the policy folder alike.
const RUST_VENDORED: &[(&str, &str)] = &[
    ("rust/hookgate-sdk", "vendor/hookgate-sdk"),
    ("rust/hookgate-methods", "vendor/hookgate-methods"),
    ("wit", "wit"),
    ("rust/Cargo.lock", "Cargo.lock"),
];

/// Whether `name` can name a policy folder, a crate and a `tenant.toml` policy alike.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The component's file name for the policy `name`: `my-policy` → `my_policy.wasm`.
fn module_file(name: &str) -> String {
    format!("{}.wasm", name.replace('-', "_"))
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    if !valid_name(&args.name) {
        bail!("policy name '{}': use lowercase letters, digits and '-', starting with a letter", args.name);
    }
    let dir = args.dir.join(&args.name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let kit = Kit::find()?;
    if let Err(err) = write_policy(&kit, args.lang, &args.name, &dir) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(err);
    }
    let module = module_file(&args.name);
    println!("created {} ({} policy from {})", dir.display(), args.lang.title(), kit.root().display());
    println!("cd {} && hookgate build . -o {module} && hookgate test .", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the policy folder `dir`: the templates with their placeholders filled, and for Rust
/// the SDK copied from the kit.
fn write_policy(kit: &Kit, lang: Lang, name: &str, dir: &Path) -> Result<()> {
    let module = module_file(name);
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{module}}", &module)
            .replace("{{language}}", lang.title())
            .replace("{{toolchain}}", lang.toolchain())
            .replace("{{source}}", &format!("`{}`", lang.source()))
    };
    for template in ["templates/common".to_owned(), format!("templates/{}", lang.folder())] {
        copy_tree(&kit.path(&template), dir, &fill)?;
    }
    if lang == Lang::Rust {
        for (from, to) in RUST_VENDORED {
            copy_tree(&kit.path(from), &dir.join(to), &str::to_owned)?;
        }
    }
    Ok(())
}

/// Copies the file or folder `from` to `to`, every file's text through `edit`.
fn copy_tree(from: &Path, to: &Path, edit: &dyn Fn(&str) -> String) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
        let entries =
            std::fs::read_dir(from).with_context(|| format!("cannot list {} (the author kit)", from.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", from.display()))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), edit)?;
        }
        return Ok(());
    }
    let text =
        std::fs::read_to_string(from).with_context(|| format!("cannot read {} (the author kit)", from.display()))?;
    std::fs::write(to, edit(&text)).with_context(|| format!("cannot write {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::{module_file, valid_name};

    #[test]
    fn names() {
        assert!(valid_name("my-policy2"));
        for bad in ["", "2x", "-x", "My", "a_b", "a/b", "a b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert_eq!(module_file("my-policy2"), "my_policy2.wasm");
    }
}
