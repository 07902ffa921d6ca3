//! The native test harnesses of the Python and JavaScript guests (`plugins/python/hookgate_testing.py`,
//! `plugins/js/hookgate-testing.js`) run outside any Rust build, so they hold the catalogue as a
//! literal table. This test generates that table from [`CATALOGUE`] and fails if a harness's copy
//! differs; `HOOKGATE_BLESS=1 cargo test -p hookgate-methods --test guest_harnesses` rewrites them.

use std::path::{Path, PathBuf};

use hookgate_methods::CATALOGUE;

/// The line before the generated table.
const BEGIN: &str = "BEGIN method kinds (generated from crates/hookgate-methods: HOOKGATE_BLESS=1 cargo test -p hookgate-methods --test guest_harnesses)";
/// The line after it.
const END: &str = "END method kinds";

/// A guest harness and how it spells the table.
struct Harness {
    /// From the repository root.
    path: &'static str,
    /// The comment marker of the language.
    comment: &'static str,
    /// The line that opens the table.
    open: &'static str,
    /// The line that closes it.
    close: &'static str,
    /// The indentation of an entry.
    indent: &'static str,
}

const HARNESSES: [Harness; 2] = [
    Harness {
        path: "plugins/python/hookgate_testing.py",
        comment: "#",
        open: "METHOD_KINDS = {",
        close: "}",
        indent: "    ",
    },
    Harness {
        path: "plugins/js/hookgate-testing.js",
        comment: "//",
        open: "const METHOD_KINDS = {",
        close: "};",
        indent: "  ",
    },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The table as `harness` spells it, markers included: every name and alias with its kind.
fn table(harness: &Harness) -> String {
    let mut out = format!("{} {BEGIN}\n{}\n", harness.comment, harness.open);
    for method in CATALOGUE {
        for name in std::iter::once(&method.name).chain(method.aliases) {
            out.push_str(&format!("{}\"{name}\": \"{}\",\n", harness.indent, method.kind));
        }
    }
    out.push_str(&format!("{}\n{} {END}\n", harness.close, harness.comment));
    out
}

/// The text of `source` from its BEGIN marker line through its END marker line.
fn block<'a>(source: &'a str, harness: &Harness) -> Option<(usize, &'a str)> {
    let start = source.find(&format!("{} {BEGIN}\n", harness.comment))?;
    let end_marker = format!("{} {END}\n", harness.comment);
    let end = start + source[start..].find(&end_marker)? + end_marker.len();
    Some((start, &source[start..end]))
}

#[test]
fn the_guest_harnesses_hold_the_host_catalogue() {
    let bless = std::env::var_os("HOOKGATE_BLESS").is_some();
    for harness in &HARNESSES {
        let path = root().join(harness.path);
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Some((start, found)) = block(&source, harness) else {
            panic!("{}: no `{} {BEGIN}` … `{} {END}` block", harness.path, harness.comment, harness.comment)
        };
        let expected = table(harness);
        if found == expected {
            continue;
        }
        if bless {
            let updated = format!("{}{expected}{}", &source[..start], &source[start + found.len()..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!(
                "{}: its method table differs from the host's catalogue; run\n  HOOKGATE_BLESS=1 cargo test -p hookgate-methods --test guest_harnesses\nexpected:\n{expected}found:\n{found}",
                harness.path
            );
        }
    }
}

#[test]
fn the_generated_table_lists_every_spelling_with_its_kind() {
    let python = table(&HARNESSES[0]);
    assert!(python.contains("    \"OnDataEvent\": \"direct\",\n"), "{python}");
    assert!(python.contains("    \"sendDTMF\": \"direct\",\n"), "{python}");
    assert!(python.contains("    \"OnCallEvent\": \"incoming\",\n"), "{python}");
    let lines = python.lines().filter(|line| line.starts_with("    \"")).count();
    let spellings: usize = CATALOGUE.iter().map(|method| 1 + method.aliases.len()).sum();
    assert_eq!(lines, spellings);
}
