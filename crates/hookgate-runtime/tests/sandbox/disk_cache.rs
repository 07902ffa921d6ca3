//! The disk cache of compiled modules, and compilation off the evaluation path.

use crate::common::{eval, policy};
use hookgate_runtime::{EvalLimits, Grants, Runtime, RuntimeConfig, Verdict};
use std::fmt::Write;
use std::time::{Duration, Instant};

fn cached(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: Some(dir.to_owned()), ..RuntimeConfig::default() }).expect("runtime")
}

#[tokio::test]
async fn a_second_runtime_loads_the_module_from_the_disk_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = policy("fixtures/faulty");
    let first = cached(dir.path());
    first.compile(&bytes).expect("compiles");
    let stats = first.disk_cache().expect("a disk cache");
    assert_eq!((stats.hits, stats.misses), (0, 1));
    drop(first);

    let second = cached(dir.path());
    let loaded = second.compile(&bytes).expect("loads").named("t", "faulty", 1_000);
    let stats = second.disk_cache().expect("a disk cache");
    assert_eq!((stats.hits, stats.misses), (1, 0), "not loaded from {}", stats.dir.display());
    let verdict = eval(&loaded, r#"{"mode":"allow"}"#, EvalLimits::default(), Grants::default()).await;
    assert_eq!(verdict.expect("evaluates").0, Verdict::Allow);
}

#[tokio::test]
async fn a_damaged_cache_entry_is_compiled_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = policy("fixtures/faulty");
    cached(dir.path()).compile(&bytes).expect("compiles");
    let mut damaged = 0;
    for entry in walk(dir.path()) {
        std::fs::write(&entry, b"not a compiled module").expect("overwrite");
        damaged += 1;
    }
    assert!(damaged >= 1, "no cache entry written");
    let runtime = cached(dir.path());
    let loaded = runtime.compile(&bytes).expect("compiles again").named("t", "faulty", 1_000);
    assert_eq!(runtime.disk_cache().map(|stats| (stats.hits, stats.misses)), Some((0, 1)));
    let verdict = eval(&loaded, r#"{"mode":"allow"}"#, EvalLimits::default(), Grants::default()).await;
    assert_eq!(verdict.expect("evaluates").0, Verdict::Allow);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_none_or(|e| e != "stats") {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_go_on_while_a_big_module_compiles() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let policy = runtime.compile(&policy("fixtures/faulty")).expect("compiles").named("t", "faulty", 1_000);
    let compiler = runtime.clone();
    let big = big_component();
    let compiling = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // Not a policy: it compiles, then fails to link.
        (compiler.compile(big.as_bytes()).is_err(), started.elapsed())
    });
    let (mut served, mut slowest) = (0, Duration::ZERO);
    while !compiling.is_finished() {
        let started = Instant::now();
        eval(&policy, r#"{"mode":"allow"}"#, EvalLimits::default(), Grants::default()).await.expect("evaluates");
        slowest = slowest.max(started.elapsed());
        served += 1;
    }
    let (refused, took) = compiling.await.expect("compile task");
    assert!(refused, "the synthetic component linked");
    assert!(took >= Duration::from_millis(200), "compiled in {took:?}: too fast to show anything");
    assert!(served >= 20, "{served} evaluations during a {took:?} compile");
    assert!(slowest < Duration::from_millis(250), "an evaluation took {slowest:?} during the compile");
}

/// A component with thousands of functions: a compile that takes a while.
fn big_component() -> String {
    let mut wat = String::from("(component (core module\n");
    for f in 0..4_000 {
        write!(wat, "(func (export \"f{f}\") (param i64) (result i64) local.get 0").expect("write to string");
        for i in 0..40 {
            write!(wat, " i64.const {i} i64.mul local.get 0 i64.xor").expect("write to string");
        }
        wat.push_str(")\n");
    }
    wat.push_str("))");
    wat
}
