//! `reuse` mode: what a kept instance keeps, and what it never does.

use crate::common::{eval, policy, repo};
use hookgate_runtime::{
    Effect, EvalLimits, Grants, HookInput, MethodKind, Policy, REUSE_EVALUATIONS, ReuseStats, Runtime, RuntimeConfig,
    StateAccess, StateBackend, Verdict,
};
use hookgate_state::{MemoryState, MemoryStateConfig};
use serde_json::Value;
use std::sync::Arc;

const COUNT: &str = r#"{"mode":"count"}"#;

fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(config).expect("runtime")
}

/// `faulty`, loaded for tenant `tenant` as policy `name`.
fn faulty(runtime: &Runtime, tenant: &str, name: &str) -> Policy {
    runtime.compile(&policy("fixtures/faulty")).expect("faulty compiles").named(tenant, name, 1_000)
}

/// How many evaluations the instance that ran this one has run (`faulty`'s `count` mode).
async fn count(policy: &Policy) -> u32 {
    match eval(policy, COUNT, EvalLimits::default(), Grants::default()).await {
        Ok((Verdict::Deny { reason, .. }, _)) => reason
            .strip_prefix("faulty: evaluation ")
            .and_then(|rest| rest.strip_suffix(" of this instance"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected reason {reason:?}")),
        other => panic!("count mode gave {other:?}"),
    }
}

#[tokio::test]
async fn fresh_instances_keep_nothing() {
    let policy = faulty(&runtime(RuntimeConfig::default()), "t", "faulty");
    for _ in 0..3 {
        assert_eq!(count(&policy).await, 1);
    }
}

#[tokio::test]
async fn reuse_keeps_globals_until_an_evaluation_fails_and_limits_still_apply() {
    let runtime = runtime(RuntimeConfig::default());
    let policy = faulty(&runtime, "t", "faulty").reusing(true);
    for n in 1..=3 {
        assert_eq!(count(&policy).await, n);
    }
    assert_eq!(runtime.reuse_stats(), ReuseStats { kept: 1, reused: 2, ..ReuseStats::default() });
    let limits = EvalLimits { timeout_ms: 20, memory_mb: 16, log_calls: 10, ..EvalLimits::default() };
    let failures = [
        (r#"{"mode":"trap"}"#, "trap"),
        (r#"{"mode":"recurse"}"#, "trap"),
        (r#"{"mode":"error"}"#, "error"),
        (r#"{"mode":"spin"}"#, "deadline"),
        (r#"{"mode":"grow","mb":64}"#, "memory"),
        (r#"{"mode":"log-flood","count":100}"#, "log-flood"),
        (r#"{"mode":"deny-status","status":200}"#, "bad-output"),
        (r#"{"mode":"huge","mb":1}"#, "output-size"),
    ];
    for (settings, cause) in failures {
        // Runs in the instance the last `count` kept: the limits apply to kept instances too.
        let failure = eval(&policy, settings, limits, Grants::default()).await.expect_err(settings);
        assert_eq!(failure.cause(), cause, "{settings}: {failure}");
        assert_eq!(count(&policy).await, 1, "after {settings}, the failed instance was reused");
        assert_eq!(count(&policy).await, 2, "after {settings}");
    }
    let stats = runtime.reuse_stats();
    assert_eq!((stats.kept, stats.discarded, stats.retired), (1, failures.len() as u64, 0), "{stats:?}");
}

#[tokio::test]
async fn a_kept_instance_is_retired_after_its_evaluations() {
    let runtime = runtime(RuntimeConfig::default());
    let policy = faulty(&runtime, "t", "faulty").reusing(true);
    for n in 1..=REUSE_EVALUATIONS {
        assert_eq!(count(&policy).await, n);
    }
    assert_eq!(runtime.reuse_stats().retired, 1);
    assert_eq!(count(&policy).await, 1);
}

#[tokio::test]
async fn kept_instances_belong_to_one_policy_of_one_tenant_and_one_generation() {
    let runtime = runtime(RuntimeConfig::default());
    let a = faulty(&runtime, "a", "faulty").reusing(true);
    let b = a.clone().named("b", "faulty", 1_000);
    let other = a.clone().named("a", "other", 1_000);
    assert_eq!((count(&a).await, count(&a).await), (1, 2));
    assert_eq!(count(&b).await, 1, "tenant b got tenant a's instance");
    assert_eq!(count(&other).await, 1, "policy 'other' got policy 'faulty''s instance");
    // Clones are the same policy (a tenant's handles to it); a reload builds a new one.
    assert_eq!(count(&a.clone()).await, 3);
    let reloaded = faulty(&runtime, "a", "faulty").reusing(true);
    assert_eq!(count(&reloaded).await, 1, "a new generation got the old one's instance");
    assert_eq!(count(&a.reusing(true)).await, 1);
}

#[tokio::test]
async fn no_budget_means_no_kept_instance() {
    let policy =
        faulty(&runtime(RuntimeConfig { kept_instances: 0, ..RuntimeConfig::default() }), "t", "faulty").reusing(true);
    for _ in 0..3 {
        assert_eq!(count(&policy).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_instances_never_take_the_slots_of_evaluations() {
    let runtime = runtime(RuntimeConfig { max_concurrent: 2, kept_instances: 3, ..RuntimeConfig::default() });
    let kept: Vec<_> = (0..4).map(|i| faulty(&runtime, "t", &format!("kept-{i}")).reusing(true)).collect();
    for policy in &kept {
        assert_eq!(count(policy).await, 1);
    }
    // The budget is full: three instances are kept, the fourth policy's was dropped.
    let counts = counts(&kept).await;
    assert_eq!(counts, [2, 2, 2, 1]);
    let stats = runtime.reuse_stats();
    assert_eq!((stats.kept, stats.unkept), (3, 2), "the fourth policy's instance, twice: {stats:?}");
    // Both evaluation slots still instantiate, side by side, while three instances are kept.
    let fresh = faulty(&runtime, "t", "fresh");
    let limits = EvalLimits { timeout_ms: 20, ..EvalLimits::default() };
    let spin = r#"{"mode":"spin"}"#;
    let (a, b) =
        tokio::join!(eval(&fresh, spin, limits, Grants::default()), eval(&fresh, spin, limits, Grants::default()));
    for outcome in [a, b] {
        assert_eq!(outcome.expect_err("spins").cause(), "deadline");
    }
}

/// [`count`] of each policy, in turn.
async fn counts(policies: &[Policy]) -> Vec<u32> {
    let mut counts = Vec::new();
    for policy in policies {
        counts.push(count(policy).await);
    }
    counts
}

#[tokio::test]
async fn grants_and_effects_are_those_of_each_evaluation() {
    let runtime = runtime(RuntimeConfig::default());
    let policy = runtime
        .compile(&policy("rust/chat-relay"))
        .expect("chat-relay compiles")
        .named("t", "chat", 1_000)
        .reusing(true);
    let backend: Arc<dyn StateBackend> = MemoryState::new(MemoryStateConfig::default());
    let granted = |delivery: u8| Grants {
        state: Some(StateAccess { backend: Arc::clone(&backend), tenant: Arc::from("t"), hook: [delivery; 32] }),
        notify: true,
        send_data: true,
    };
    let join = async |session: &str, grants: Grants| {
        let payload = format!(r#"{{"appKey":"defaultApp","sessionId":"{session}","payload":{{"room":"lobby"}}}}"#);
        let hook = HookInput {
            method: "OnDataEvent",
            kind: MethodKind::Event,
            app_key: "defaultApp",
            session_id: session,
            payload: &payload,
            settings: "{}",
            received_ms: 0,
        };
        policy.evaluate(&hook, EvalLimits::default(), grants).await
    };
    let sent_to = |effects: &[Effect]| -> Vec<String> {
        effects
            .iter()
            .map(|effect| match effect {
                Effect::SendData { session_id, .. } => session_id.clone(),
                Effect::Notify { event_type, .. } => format!("notify {event_type}"),
            })
            .collect()
    };

    let (_, effects) = join("s1", granted(1)).await.expect("s1 joins");
    assert_eq!(sent_to(&effects), ["notify chat"]);
    // The kept instance ran with s1's grants; without grants of its own, s2 gets none.
    // (An ungranted call traps.)
    let refused = join("s2", Grants::default()).await.expect_err("ungranted state use");
    assert_eq!(refused.cause(), "trap", "{refused}");
    let (_, effects) = join("s2", granted(2)).await.expect("s2 joins");
    assert_eq!(sent_to(&effects), ["s1", "notify chat"]);
    // Kept again: only s3's own effects come back, none of s2's.
    let (_, effects) = join("s3", granted(3)).await.expect("s3 joins");
    let mut sent = sent_to(&effects);
    sent.sort();
    assert_eq!(sent, ["notify chat", "s1", "s2"]);
}

#[tokio::test]
async fn reuse_answers_the_shared_stream_guard_cases_like_fresh_instances() {
    let runtime = runtime(RuntimeConfig::default());
    let mut modules = vec![("rust".to_owned(), policy("rust/stream-guard"))];
    for lang in ["python", "js", "c"] {
        let path = repo().join("target/guest-policies").join(lang).join("stream_guard.wasm");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|err| panic!("{lang}: {} not built ({err}): run `make guests`", path.display()));
        modules.push((lang.to_owned(), bytes));
    }
    let cases = cases();
    assert!(cases.len() >= 10, "only {} cases found", cases.len());
    // Fresh Python and JavaScript instances take milliseconds on a busy machine.
    let limits = EvalLimits { timeout_ms: 2_000, ..EvalLimits::default() };
    for (lang, bytes) in modules {
        let compiled = runtime.compile(&bytes).unwrap_or_else(|err| panic!("{lang}: {err}"));
        let fresh = compiled.clone().named("t", "guard", 1_000);
        let reused = compiled.named("t", "guard", 1_000).reusing(true);
        // Twice over: the second round runs every case in an instance that has seen them all.
        for round in 0..2 {
            for case in &cases {
                // The other export, on the same kept instance, as at load time.
                let expected = fresh.validate_settings(&case.settings, limits).await;
                let actual = reused.validate_settings(&case.settings, limits).await;
                assert_eq!(actual, expected, "{lang}, round {round}, validate-settings: {}", case.name);
                let hook = case.hook();
                let expected = fresh.evaluate(&hook, limits, Grants::default()).await;
                let actual = reused.evaluate(&hook, limits, Grants::default()).await;
                assert_eq!(actual, expected, "{lang}, round {round}: {}", case.name);
            }
        }
    }
}

/// One of `plugins/cases/stream-guard/*.json`, as a hook.
struct Case {
    name: String,
    method: String,
    kind: MethodKind,
    payload: String,
    settings: String,
}

impl Case {
    fn hook(&self) -> HookInput<'_> {
        HookInput {
            method: &self.method,
            kind: self.kind,
            app_key: "defaultApp",
            session_id: "s1",
            payload: &self.payload,
            settings: &self.settings,
            received_ms: 0,
        }
    }
}

fn cases() -> Vec<Case> {
    let dir = repo().join("plugins/cases/stream-guard");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("cases folder") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("case file");
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let list = match value {
            Value::Array(list) => list,
            one => vec![one],
        };
        for case in list {
            let text = |key: &str| case.get(key).and_then(Value::as_str).map(str::to_owned);
            let kind = match text("kind").as_deref() {
                Some("connect") => MethodKind::Connect,
                Some("event") => MethodKind::Event,
                Some("incoming") => MethodKind::Incoming,
                _ => MethodKind::Direct,
            };
            cases.push(Case {
                name: text("name").unwrap_or_default(),
                method: text("method").unwrap_or_else(|| "publishStream".into()),
                kind,
                payload: text("payload_raw").unwrap_or_else(|| case["payload"].to_string()),
                settings: case.get("settings").map_or_else(|| "{}".into(), Value::to_string),
            });
        }
    }
    cases
}
