use hookgate_state::{MemoryState, StateBackend, StateError, StateLimits};

use crate::common::{Backend, T, fresh, session};

async fn get_set_delete(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(state.get("t", &T, "k").await.unwrap(), None);
    state.set("t", &T, "k", "v", None, fresh()).await.unwrap();
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("v"));
    state.set("t", &T, "k", "", None, fresh()).await.unwrap();
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some(""), "empty is a value, not absence");
    assert!(state.delete("t", &T, "k", fresh()).await.unwrap());
    assert!(!state.delete("t", &T, "k", fresh()).await.unwrap());
    assert_eq!(state.get("t", &T, "k").await.unwrap(), None);
}

async fn incr_starts_from_zero_and_adds_signed_deltas(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(state.incr("t", &T, "n", 5, None, fresh()).await.unwrap(), 5);
    assert_eq!(state.incr("t", &T, "n", -7, None, fresh()).await.unwrap(), -2);
    assert_eq!(state.incr("t", &T, "n", 0, None, fresh()).await.unwrap(), -2);
    assert_eq!(state.get("t", &T, "n").await.unwrap().as_deref(), Some("-2"));
    state.set("t", &T, "m", "41", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &T, "m", 1, None, fresh()).await.unwrap(), 42);
}

async fn incr_of_a_non_integer_is_invalid_and_changes_nothing(backend: Backend) {
    let state = backend.store().await;
    for value in ["abc", "1.5", "", " 1", "99999999999999999999"] {
        state.set("t", &T, "k", value, None, fresh()).await.unwrap();
        assert_eq!(
            state.incr("t", &T, "k", 1, None, fresh()).await,
            Err(StateError::Invalid("key \"k\" holds a value that is not a 64-bit integer".into())),
            "value {value:?}"
        );
        assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some(value));
    }
}

async fn incr_reads_integers_as_rust_parses_them(backend: Backend) {
    let state = backend.store().await;
    for (stored, next) in [("+5", 6), ("007", 8), ("-0", 1), ("-007", -6), ("00", 1)] {
        state.set("t", &T, "k", stored, None, fresh()).await.unwrap();
        assert_eq!(state.incr("t", &T, "k", 1, None, fresh()).await, Ok(next), "stored {stored:?}");
        assert_eq!(state.get("t", &T, "k").await.unwrap(), Some(next.to_string()));
    }
    for stored in ["+", "-", "+-1", "--1", "1_000", "0x10", "１"] {
        state.set("t", &T, "k", stored, None, fresh()).await.unwrap();
        let result = state.incr("t", &T, "k", 1, None, fresh()).await;
        assert!(matches!(result, Err(StateError::Invalid(_))), "stored {stored:?}: {result:?}");
    }
    // An overflow leaves the value as it was written, sign and zeros included.
    state.set("t", &T, "k", "+09223372036854775807", None, fresh()).await.unwrap();
    let Err(StateError::Invalid(msg)) = state.incr("t", &T, "k", 1, None, fresh()).await else {
        panic!("overflow must be Invalid");
    };
    assert_eq!(msg, "incr of key \"k\" (9223372036854775807) by 1 overflows a 64-bit integer");
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("+09223372036854775807"));
    assert_eq!(state.incr("t", &T, "k", -7, None, fresh()).await, Ok(i64::MAX - 7));
}

async fn incr_overflow_is_invalid_and_changes_nothing(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", &i64::MAX.to_string(), None, fresh()).await.unwrap();
    let Err(StateError::Invalid(msg)) = state.incr("t", &T, "k", 1, None, fresh()).await else {
        panic!("overflow must be Invalid");
    };
    assert!(msg.contains("overflows a 64-bit integer"), "{msg}");
    assert_eq!(state.get("t", &T, "k").await.unwrap(), Some(i64::MAX.to_string()));
    assert_eq!(state.incr("t", &T, "k", i64::MIN, None, fresh()).await.unwrap(), -1);
}

async fn compare_and_set_exact_semantics(backend: Backend) {
    let state = backend.store().await;
    let cas = |expected: Option<&'static str>, value: Option<&'static str>| {
        let state = state.clone();
        async move { state.compare_and_set("t", &T, "k", expected, value, None, fresh()).await.unwrap() }
    };
    // absent → value: only when expecting absence.
    assert!(!cas(Some("a"), Some("b")).await, "expected a value, key absent");
    assert!(cas(None, Some("a")).await);
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("a"));
    // present: only the exact current value matches.
    assert!(!cas(None, Some("b")).await, "expected absence, key present");
    assert!(!cas(Some("A"), Some("b")).await);
    assert!(!cas(Some(""), Some("b")).await, "empty is not absence");
    assert!(cas(Some("a"), Some("b")).await);
    assert!(cas(Some("b"), Some("b")).await, "same value: succeeds");
    // value none deletes.
    assert!(cas(Some("b"), None).await);
    assert_eq!(state.get("t", &T, "k").await.unwrap(), None);
    // absent → absent succeeds and stores nothing.
    assert!(cas(None, None).await);
    assert!(state.keys("t", &T, "").await.unwrap().is_empty());
}

async fn keys_lists_a_prefix_sorted_within_one_scope(backend: Backend) {
    let state = backend.store().await;
    for key in ["pub/b", "pub/a", "sub/a", "pub/c/1", "pu", "pub/"] {
        state.set("t", &T, key, "1", None, fresh()).await.unwrap();
    }
    state.set("t", &session("s"), "pub/z", "1", None, fresh()).await.unwrap();
    assert_eq!(state.keys("t", &T, "pub/").await.unwrap(), ["pub/", "pub/a", "pub/b", "pub/c/1"]);
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["pu", "pub/", "pub/a", "pub/b", "pub/c/1", "sub/a"]);
    assert!(state.keys("t", &T, "zzz").await.unwrap().is_empty());
    assert_eq!(state.keys("t", &session("s"), "").await.unwrap(), ["pub/z"]);
    assert!(state.keys("unknown", &T, "").await.unwrap().is_empty());
}

async fn keys_takes_every_prefix_literally(backend: Backend) {
    let state = backend.store().await;
    // The characters Redis's lexicographic ranges give a meaning to, and the highest code point.
    let keys = ["(a", "+b", "-c", "[d", "[d[", "\u{10FFFF}e", "\u{10FFFF}"];
    for key in keys {
        state.set("t", &T, key, "1", None, fresh()).await.unwrap();
    }
    for key in keys {
        let mut expected: Vec<&str> = keys.iter().copied().filter(|k| k.starts_with(key)).collect();
        expected.sort_unstable();
        assert_eq!(state.keys("t", &T, key).await.unwrap(), expected, "prefix {key:?}");
    }
    assert_eq!(state.keys("t", &T, "").await.unwrap().len(), keys.len());
    assert!(state.keys("t", &T, "[e").await.unwrap().is_empty());
}

async fn scopes_are_separate_namespaces(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", "tenant", None, fresh()).await.unwrap();
    state.set("t", &session("s1"), "k", "s1", None, fresh()).await.unwrap();
    state.set("t", &session("s2"), "k", "s2", None, fresh()).await.unwrap();
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("tenant"));
    assert_eq!(state.get("t", &session("s1"), "k").await.unwrap().as_deref(), Some("s1"));
    assert!(state.delete("t", &session("s2"), "k", fresh()).await.unwrap());
    assert_eq!(state.get("t", &session("s1"), "k").await.unwrap().as_deref(), Some("s1"));
}

#[test]
fn calls_work_without_a_runtime_clock() {
    // The in-process backend is sync inside; a plain executor without tokio's time driver is
    // enough.
    let state = MemoryState::new(StateLimits::default());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        state.set("t", &T, "k", "v", Some(std::time::Duration::from_secs(5)), fresh()).await.unwrap();
        assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("v"));
    });
}

on_each_backend! {
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        get_set_delete,
        incr_starts_from_zero_and_adds_signed_deltas,
        incr_of_a_non_integer_is_invalid_and_changes_nothing,
        incr_reads_integers_as_rust_parses_them,
        incr_overflow_is_invalid_and_changes_nothing,
        compare_and_set_exact_semantics,
        keys_lists_a_prefix_sorted_within_one_scope,
        keys_takes_every_prefix_literally,
        scopes_are_separate_namespaces,
    ]
}
