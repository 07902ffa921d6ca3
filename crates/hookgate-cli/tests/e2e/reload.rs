//! Hot reload under load: modules and manifests replaced while hooks flow.

use crate::common::{Answer, Server, Tree, payload, policy};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MANIFEST: &str = r#"
version = 1
[policies.p]
module = "p.wasm"
[methods.publishStream]
chain = ["p"]
on_error = "FAIL"
overwrite = ["name"]
"#;

/// The two good versions: stream-guard lower-cases the name, audit lets it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Lower,
    Keep,
}

fn version_of(answer: &Answer) -> Version {
    assert_eq!(
        answer.status,
        200,
        "an error status neither version gives: {:?}",
        String::from_utf8_lossy(&answer.body)
    );
    match answer.json()["name"].as_str() {
        Some("b4e7-cam") => Version::Lower,
        Some("B4E7-Cam") => Version::Keep,
        other => panic!("an answer neither version gives: name {other:?}"),
    }
}

/// A broken version: what it is, and how to write it.
type BrokenVersion<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// Writes `bytes` to `path`, by rename into place or by overwriting in place.
fn replace(path: &Path, bytes: &[u8], rename: bool) {
    if rename {
        let temporary = path.with_file_name(".p.wasm.partial");
        std::fs::write(&temporary, bytes).expect("write temporary");
        std::fs::rename(&temporary, path).expect("rename into place");
    } else {
        std::fs::write(path, bytes).expect("overwrite in place");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_replaced_under_load_never_mix_generations_or_go_live_broken() {
    let lower = std::fs::read(policy("rust/stream-guard")).unwrap();
    let keep = std::fs::read(policy("rust/audit")).unwrap();
    let refuses_its_settings = std::fs::read(policy("fixtures/faulty")).unwrap();
    let tree = Tree::new();
    tree.tenant("defaultApp", MANIFEST, &[]).file("defaultApp/p.wasm", &lower);
    let server = Server::start(&tree, &["--admin-listen", "127.0.0.1:0"]);
    let module = tree.path().join("defaultApp/p.wasm");
    let manifest = tree.path().join("defaultApp/tenant.toml");
    let body = payload("publishStream.mixed-case.json");

    // Clients keep hooks flowing the whole time and record (generation, version) of every answer.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (client, url, body, stop) =
            (server.client(), format!("{}/rest/publishStream", server.base), body.clone(), Arc::clone(&stop));
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response =
                    client.post(&url).header("content-type", "application/json").body(body.clone()).send().await;
                let answer = Answer::from(response.expect("every hook is answered")).await;
                let generation = answer.generation.clone().expect("generation header");
                seen.push((generation, version_of(&answer)));
            }
            seen
        }));
    }

    let reloads =
        |status: Option<&serde_json::Value>, key: &str| status.map_or(0, |s| s["reloads"][key].as_u64().unwrap_or(0));
    let mut current = Version::Lower;
    let mut generation = 1u64;
    let mut delays = Vec::new();
    let (mut good, mut broken) = (0, 0);
    for step in 0..60 {
        let failed_before = reloads(server.tenant_status("defaultApp").await.as_ref(), "failed");
        let rename = step % 2 == 0;
        let bad: Option<BrokenVersion> = match step % 6 {
            1 => Some(("garbage bytes", Box::new(|| replace(&module, b"\0asm garbage, not a component", rename)))),
            3 => Some(("a truncated module", Box::new(|| replace(&module, &lower[..lower.len() / 2], rename)))),
            5 if step % 12 == 5 => {
                Some(("settings the module refuses", Box::new(|| replace(&module, &refuses_its_settings, rename))))
            }
            5 => Some((
                "a manifest syntax error",
                Box::new(|| std::fs::write(&manifest, "version = 1\n[methods.publishStream\n").unwrap()),
            )),
            _ => None,
        };
        match bad {
            Some((what, write)) => {
                write();
                server.wait_for("defaultApp", what, |s| reloads(s, "failed") > failed_before).await;
                let status = server.tenant_status("defaultApp").await.unwrap();
                assert_eq!(status["generation"], generation, "{what} went live");
                assert_eq!(status["last_reload"]["outcome"], "failed");
                let answer = server.hook("publishStream", &body).await;
                assert_eq!(version_of(&answer), current, "after {what}, the last good version serves");
                assert_eq!(answer.generation.as_deref(), Some(format!("defaultApp/{generation}").as_str()));
                broken += 1;
                // Put the last good file back, only the one that was broken: rewriting both would
                // make two bursts of changes, and on a loaded machine the second can come after
                // the debounce and build one more generation than this test counts.
                if what == "a manifest syntax error" {
                    std::fs::write(&manifest, MANIFEST).unwrap();
                } else {
                    replace(&module, if current == Version::Lower { &lower } else { &keep }, rename);
                }
                let before = generation;
                server
                    .wait_for("defaultApp", "restore", |s| {
                        s.is_some_and(|s| {
                            s["generation"].as_u64() > Some(before) && s["last_reload"]["outcome"] == "ok"
                        })
                    })
                    .await;
                generation = server.tenant_status("defaultApp").await.unwrap()["generation"].as_u64().unwrap();
            }
            None => {
                current = if current == Version::Lower { Version::Keep } else { Version::Lower };
                let written = Instant::now();
                replace(&module, if current == Version::Lower { &lower } else { &keep }, rename);
                // The delay from the write to the first hook answered by a newer generation. On a
                // loaded machine one write can come as two bursts of file events, and so build two
                // generations: both must serve the new version.
                let before = generation;
                loop {
                    let answer = server.hook("publishStream", &body).await;
                    let number = answer.generation.as_deref().and_then(|g| g.strip_prefix("defaultApp/"));
                    generation = number.and_then(|n| n.parse().ok()).expect("a defaultApp generation header");
                    if generation > before {
                        assert_eq!(version_of(&answer), current, "generation {generation}");
                        delays.push(written.elapsed());
                        break;
                    }
                    assert!(written.elapsed() < Duration::from_secs(20), "no generation after {before} went live");
                }
                good += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut by_generation: HashMap<String, Version> = HashMap::new();
    let mut answers = 0;
    for client in clients {
        for (generation, version) in client.await.unwrap() {
            answers += 1;
            let first = *by_generation.entry(generation.clone()).or_insert(version);
            assert_eq!(first, version, "generation {generation} answered with both versions");
        }
    }
    let answer = server.hook("publishStream", &body).await;
    assert_eq!(version_of(&answer), current, "the last good version keeps serving");

    delays.sort();
    let median = delays[delays.len() / 2];
    let max = delays[delays.len() - 1];
    println!(
        "reload: {good} good swaps, {broken} broken versions refused, {answers} hooks answered by {} generations; \
         write → first hook on the new generation: median {median:?}, max {max:?}",
        by_generation.len()
    );
    assert!(good + broken >= 50);
    assert!(answers > 100, "hooks kept flowing ({answers})");
}
