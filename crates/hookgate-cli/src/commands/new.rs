//! `hookgate new --lang rust|python|js|c NAME [--dir DIR]`: a new policy from the templates of
//! `templates/<lang>/`, embedded in the binary so that an installed `hookgate` needs no checkout
//! to start a policy (building one still needs the language's recipe: `templates/README.md`).

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
    /// The folder that gets the policy folder `NAME` (in a hookgate checkout: `plugins/<lang>`,
    /// where the language's build recipe and helpers are).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// A guest language with a template.
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

/// A template file: its path inside the template folder and its text.
type TemplateFile = (&'static str, &'static str);

/// Embeds `templates/<lang>/<file>` for each file given.
macro_rules! template {
    ($lang:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../../../templates/", $lang, "/", $file)))),+]
    };
}

impl Lang {
    /// The files of the language's template (`templates/<lang>/`, every file).
    fn files(self) -> &'static [TemplateFile] {
        match self {
            Lang::Rust => template!("rust": "Cargo.toml", "README.md", "src/lib.rs", "tests/cases.json"),
            Lang::Python => template!("python": "README.md", "app.py", "tests/cases.json"),
            Lang::Js => template!("js": "README.md", "policy.js", "policy.test.js", "tests/cases.json"),
            Lang::C => template!("c": "README.md", "policy.c", "tests/cases.json"),
        }
    }

    /// The template folder's name, as in `plugins/<lang>/`.
    fn folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }

    /// The one command that builds the policy at `dir` into `NAME.wasm`, run from a hookgate checkout.
    fn build_command(self, dir: &Path, name: &str) -> String {
        match self {
            Lang::Rust => format!("hookgate build {} -o {name}.wasm", dir.display()),
            lang => format!("plugins/{}/build.sh {} {name}.wasm", lang.folder(), dir.display()),
        }
    }
}

/// Whether `name` can name a policy folder, a crate and a `tenant.toml` policy alike.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    if !valid_name(&args.name) {
        bail!("policy name '{}': use lowercase letters, digits and '-', starting with a letter", args.name);
    }
    let dir = args.dir.join(&args.name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    write_template(args.lang, &args.name, &dir)?;
    println!("created {} ({} policy from templates/{})", dir.display(), args.name, args.lang.folder());
    println!("build:  {}", args.lang.build_command(&dir, &args.name));
    println!(
        "(see {}/README.md; its commands expect it in plugins/{}/ of a hookgate checkout)",
        dir.display(),
        args.lang.folder()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the template of `lang` into `dir` with `{{name}}` replaced by `name`.
fn write_template(lang: Lang, name: &str, dir: &Path) -> Result<()> {
    for (file, text) in lang.files() {
        let path = dir.join(file);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::write(&path, text.replace("{{name}}", name))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Lang, valid_name};
    use clap::ValueEnum as _;
    use std::path::Path;

    /// Every file of `templates/<lang>/` is embedded (a file added there must be added here).
    #[test]
    fn every_template_file_is_embedded() {
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        for lang in Lang::value_variants() {
            let root = templates.join(lang.folder());
            let mut on_disk = Vec::new();
            let mut pending = vec![root.clone()];
            while let Some(dir) = pending.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        pending.push(path);
                    } else {
                        on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                    }
                }
            }
            on_disk.sort();
            let mut embedded: Vec<String> = lang.files().iter().map(|(file, _)| (*file).to_owned()).collect();
            embedded.sort();
            assert_eq!(embedded, on_disk, "templates/{}", lang.folder());
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("my-policy2"));
        for bad in ["", "2x", "-x", "My", "a_b", "a/b", "a b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
