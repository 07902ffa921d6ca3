//! Guest languages through a running server: stream-guard built in Rust, Python, JavaScript and
//! C, its shared cases (`plugins/cases/stream-guard`) posted over HTTP to `hookgate serve`, and
//! the Rust build swapped for the Python one (and back) under load.
//!
//! The Python, JavaScript and C builds come from `plugins/build-guests.sh` (run by `make test`
//! and `make guests` before the tests); a missing build fails the test that needs it, with the
//! command that makes it. The case files become a policy tree with `plugins/cases/hookgate-tree.py`
//! (one tenant per settings, each case turned into a tenant case), and the answers are checked by
//! `hookgate_engine::cases`, as `hookgate test` checks them in process.

use crate::common::{Server, Tree, policy, repo};
use hookgate_engine::cases::{Case, load_cases};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The policy name the case trees use.
const POLICY: &str = "stream-guard";

/// The deadline of the case trees' tenants. The 50 ms default counts time a thread loses to other
/// processes, and a fresh Python instance (~1.4 ms) on this busy 2-core machine can lose that much
/// (plugins/README.md); these tests check answers, not the deadline.
const TIMEOUT_MS: &str = "2000";

/// The stream-guard component of `lang`: Rust built from source here, the others by
/// `plugins/build-guests.sh`. Panics with the command that builds a missing one.
fn stream_guard(lang: &str) -> PathBuf {
    if lang == "rust" {
        return policy("rust/stream-guard");
    }
    let module = repo().join("target/guest-policies").join(lang).join("stream_guard.wasm");
    assert!(
        module.is_file(),
        "the {lang} build of stream-guard is missing ({}): build it with `make guests` \
         (.ci/guest-toolchains, then plugins/build-guests.sh {lang}); `make test` does that first",
        module.display()
    );
    module
}

/// The module's file name in every tenant of a case tree.
const MODULE_FILE: &str = "stream_guard.wasm";

/// Writes the shared cases as a policy tree into `tree` (one tenant per settings, `module` in
/// each as [`MODULE_FILE`]).
fn write_case_tree(tree: &Tree, module: &Path) {
    let staged = tree.path().parent().expect("the tree's folder").join(MODULE_FILE);
    std::fs::copy(module, &staged).unwrap_or_else(|err| panic!("cannot copy {}: {err}", module.display()));
    let script = repo().join("plugins/cases/hookgate-tree.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(["--write-only", "--timeout-ms", TIMEOUT_MS, "--policy", POLICY, "--cases"])
        .arg(repo().join("plugins/cases/stream-guard"))
        .arg("--module")
        .arg(&staged)
        .arg("--out")
        .arg(tree.path())
        .output()
        .unwrap_or_else(|err| panic!("cannot run python3 {}: {err}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The number of cases in the shared case files (what must all reach the server).
fn shared_case_count() -> usize {
    let dir = repo().join("plugins/cases/stream-guard");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("case file"))
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            doc.as_array().map_or(1, Vec::len)
        })
        .sum()
}

/// One case of a tenant: where it comes from, the case, and the body it sends.
struct TenantCase {
    /// `<tenant>/tests/<file>: <case name>`, for messages.
    label: String,
    /// The case.
    case: Case,
    /// The hook body.
    body: Vec<u8>,
}

/// The cases of each tenant of `tree`, by tenant name.
fn tenant_cases(tree: &Tree) -> HashMap<String, Vec<TenantCase>> {
    let mut all = HashMap::new();
    for entry in std::fs::read_dir(tree.path()).expect("tree") {
        let dir = entry.expect("tenant entry").path();
        let tenant = dir.file_name().expect("tenant name").to_string_lossy().into_owned();
        let mut cases = Vec::new();
        let bounds = hookgate_config::TenantBounds::default();
        for (file, file_cases) in load_cases(&dir, &bounds).unwrap_or_else(|err| panic!("{err}")) {
            for case in file_cases {
                let label = format!("{tenant}/tests/{}: {}", file.file_name().unwrap().to_string_lossy(), case.name);
                assert!(case.received_ms().is_none(), "{label}: a running server cannot take a fixed reception time");
                let body = case.body().to_vec();
                cases.push(TenantCase { label, case, body });
            }
        }
        all.insert(tenant, cases);
    }
    all
}

/// Posts one case to the server; `Err` says how the answer differs from the case's.
async fn post_case(client: &reqwest::Client, base: &str, case: &TenantCase) -> (Option<String>, Result<(), String>) {
    let mut request = client
        .post(format!("{base}/rest/{}", case.case.method))
        .header("content-type", "application/json")
        .body(case.body.clone());
    if let Some(authorization) = case.case.authorization() {
        request = request.header("authorization", authorization);
    }
    let answer = crate::common::Answer::from(request.send().await.expect("every hook is answered")).await;
    let checked =
        case.case.check(answer.status, &answer.body, &case.body).map_err(|err| format!("{}: {err}", case.label));
    (answer.generation, checked)
}

/// Serves the shared cases with `lang`'s build and posts every one of them.
async fn shared_cases_through_server(lang: &str) {
    let started = Instant::now();
    let tree = Tree::new();
    write_case_tree(&tree, &stream_guard(lang));
    let server = Server::start(&tree, &[]);
    let loaded = started.elapsed();
    let client = server.client();
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in tenant_cases(&tree).values().flatten() {
        match post_case(&client, &server.base, case).await.1 {
            Ok(()) => passed += 1,
            Err(err) => failures.push(err),
        }
    }
    assert!(
        failures.is_empty(),
        "{lang}: {} case(s) failed through the server:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, shared_case_count(), "{lang}: every shared case reaches the server");
    println!("{lang}: {passed} shared cases answered correctly over HTTP (server up in {loaded:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cases_through_server_rust() {
    shared_cases_through_server("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cases_through_server_python() {
    shared_cases_through_server("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cases_through_server_js() {
    shared_cases_through_server("js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cases_through_server_c() {
    shared_cases_through_server("c").await;
}

/// Writes `bytes` to `path` as an operator would: a temporary file renamed into place.
fn rename_into_place(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("wasm.partial");
    std::fs::write(&temporary, bytes).expect("write temporary");
    std::fs::rename(&temporary, path).expect("rename into place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_python_builds_swapped_under_load_answer_every_case() {
    const SWAPS: usize = 3;
    const CLIENTS: usize = 4;
    /// Answers each version must give on each of its generations before the next swap.
    const ANSWERS_PER_GENERATION: usize = 50;
    let rust = std::fs::read(stream_guard("rust")).expect("rust build");
    let python = std::fs::read(stream_guard("python")).expect("python build");
    let tree = Tree::new();
    write_case_tree(&tree, &stream_guard("rust"));
    // The tenant with the most cases (settings the policy accepts) is swapped; the others serve on.
    let mut cases = tenant_cases(&tree);
    let tenant = cases
        .iter()
        .filter(|(tenant, _)| {
            let manifest = std::fs::read_to_string(tree.path().join(tenant).join("tenant.toml")).expect("manifest");
            !manifest.contains("must refuse these settings")
        })
        .max_by_key(|(_, cases)| cases.len())
        .map(|(tenant, _)| tenant.clone())
        .expect("a tenant");
    let cases = Arc::new(cases.remove(&tenant).expect("its cases"));
    // A tenant without cases serves the Python build from the start, so the swaps find it compiled
    // (compiled modules are cached by digest) and the waits below measure swaps, not compiles.
    let warm = tree.path().join("warm");
    std::fs::create_dir(&warm).expect("warm tenant");
    std::fs::copy(tree.path().join(&tenant).join("tenant.toml"), warm.join("tenant.toml")).expect("manifest");
    std::fs::write(warm.join(MODULE_FILE), &python).expect("python module");
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let digest = |status: Option<&serde_json::Value>| {
        status.and_then(|s| s["policies"].as_array()?.first()?["digest"].as_str().map(str::to_owned))
    };
    let loaded = |tenant: &str, status: Option<serde_json::Value>| {
        digest(status.as_ref()).unwrap_or_else(|| panic!("tenant {tenant} has no loaded policy: {status:?}"))
    };
    let python_digest = loaded("warm", server.tenant_status("warm").await);
    let rust_digest = loaded(&tenant, server.tenant_status(&tenant).await);
    assert_ne!(python_digest, rust_digest);

    // Clients post the tenant's cases round robin and count correct answers per generation.
    let stop = Arc::new(AtomicBool::new(false));
    let answered: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut clients = Vec::new();
    for client_index in 0..CLIENTS {
        let (client, base, cases, stop, answered) =
            (server.client(), server.base.clone(), Arc::clone(&cases), Arc::clone(&stop), Arc::clone(&answered));
        clients.push(tokio::spawn(async move {
            let mut wrong = Vec::new();
            let mut next = client_index;
            while !stop.load(Ordering::Relaxed) {
                let (generation, checked) = post_case(&client, &base, &cases[next % cases.len()]).await;
                next += 1;
                match checked {
                    Ok(()) => *answered.lock().unwrap().entry(generation.expect("generation header")).or_default() += 1,
                    Err(err) => wrong.push(err),
                }
            }
            wrong
        }));
    }

    let mut served: HashMap<&str, Vec<String>> = HashMap::new();
    let module = tree.path().join(&tenant).join(MODULE_FILE);
    for step in 0..2 * SWAPS + 1 {
        let (name, bytes, want) =
            if step % 2 == 0 { ("rust", &rust, &rust_digest) } else { ("python", &python, &python_digest) };
        if step > 0 {
            rename_into_place(&module, bytes);
        }
        server.wait_for(&tenant, &format!("the {name} build"), |s| digest(s).as_ref() == Some(want)).await;
        let generation = format!("{tenant}/{}", server.tenant_status(&tenant).await.expect("tenant")["generation"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while answered.lock().unwrap().get(&generation).copied().unwrap_or_default() < ANSWERS_PER_GENERATION {
            assert!(Instant::now() < deadline, "generation {generation} ({name}) answered too few hooks");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        served.entry(name).or_default().push(generation);
    }
    stop.store(true, Ordering::Relaxed);
    let mut wrong = Vec::new();
    for client in clients {
        wrong.extend(client.await.expect("client task"));
    }
    assert!(wrong.is_empty(), "{} wrong answer(s) during the swaps:\n{}", wrong.len(), wrong.join("\n"));
    let answered = answered.lock().unwrap();
    let count = |name: &str| served[name].iter().map(|g| answered.get(g).copied().unwrap_or_default()).sum::<usize>();
    let total: usize = answered.values().sum();
    println!(
        "hot swap: {SWAPS} Rust → Python → Rust swaps under {CLIENTS} clients, {total} hooks, all correct; \
         Rust generations {:?} answered {}, Python generations {:?} answered {}",
        served["rust"],
        count("rust"),
        served["python"],
        count("python")
    );
    assert_eq!(served["python"].len(), SWAPS);
    assert!(count("python") >= SWAPS * ANSWERS_PER_GENERATION && count("rust") > SWAPS * ANSWERS_PER_GENERATION);
}
