use hookgate_state::{StateError, StateLimits};

use crate::common::{Backend, T, fresh, session};

fn invalid(result: Result<impl std::fmt::Debug, StateError>) -> String {
    match result {
        Err(StateError::Invalid(msg)) => msg,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn keys_up_to_the_limit_are_obeyed_and_longer_ones_refused(backend: Backend) {
    let state = backend.store().await;
    let longest = "k".repeat(256);
    state.set("t", &T, &longest, "v", None, fresh()).await.unwrap();
    assert_eq!(state.get("t", &T, &longest).await.unwrap().as_deref(), Some("v"));

    let too_long = "k".repeat(257);
    let expected = "key is 257 bytes; the limit is 256 bytes";
    assert_eq!(invalid(state.set("t", &T, &too_long, "v", None, fresh()).await), expected);
    assert_eq!(invalid(state.get("t", &T, &too_long).await), expected);
    assert_eq!(invalid(state.incr("t", &T, &too_long, 1, None, fresh()).await), expected);
    assert_eq!(invalid(state.delete("t", &T, &too_long, fresh()).await), expected);
    assert_eq!(invalid(state.compare_and_set("t", &T, &too_long, None, None, None, fresh()).await), expected);
    // Bytes, not characters.
    assert_eq!(
        invalid(state.set("t", &T, &"é".repeat(129), "v", None, fresh()).await),
        "key is 258 bytes; the limit is 256 bytes"
    );
}

async fn values_up_to_the_limit_are_obeyed_and_larger_ones_refused(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", &"v".repeat(64 * 1024), None, fresh()).await.unwrap();
    let big = "v".repeat(64 * 1024 + 1);
    let expected = "value for key \"k\" is 65537 bytes; the limit is 65536 bytes";
    assert_eq!(invalid(state.set("t", &T, "k", &big, None, fresh()).await), expected);
    assert_eq!(invalid(state.compare_and_set("t", &T, "k", None, Some(&big), None, fresh()).await), expected);
    assert_eq!(state.get("t", &T, "k").await.unwrap().map(|v| v.len()), Some(64 * 1024));
}

async fn session_ids_are_held_to_the_key_limit(backend: Backend) {
    let state = backend.store().await;
    let scope = session(&"s".repeat(257));
    assert_eq!(
        invalid(state.set("t", &scope, "k", "v", None, fresh()).await),
        "session id is 257 bytes; the limit is 256 bytes"
    );
    assert_eq!(invalid(state.keys("t", &scope, "").await), "session id is 257 bytes; the limit is 256 bytes");
}

async fn the_key_quota_counts_every_scope_and_frees_on_delete(backend: Backend) {
    let state = backend.store_with(StateLimits { max_keys_per_tenant: 3, ..Default::default() }).await;
    state.set("t", &T, "a", "1", None, fresh()).await.unwrap();
    state.set("t", &session("s1"), "b", "1", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &session("s2"), "c", 1, None, fresh()).await.unwrap(), 1);

    let expected = "tenant \"t\" holds 3 keys, the limit is 3: cannot add key \"d\" (delete keys or give them a TTL)";
    assert_eq!(invalid(state.set("t", &T, "d", "1", None, fresh()).await), expected);
    assert_eq!(invalid(state.incr("t", &T, "d", 1, None, fresh()).await), expected);
    assert_eq!(invalid(state.compare_and_set("t", &T, "d", None, Some("1"), None, fresh()).await), expected);
    assert_eq!(state.get("t", &T, "d").await.unwrap(), None);

    // Updating held keys is not adding keys.
    state.set("t", &T, "a", "2", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &session("s2"), "c", 1, None, fresh()).await.unwrap(), 2);
    assert!(state.compare_and_set("t", &T, "a", Some("2"), Some("3"), None, fresh()).await.unwrap());
    // Another tenant has its own quota.
    state.set("other", &T, "d", "1", None, fresh()).await.unwrap();

    assert!(state.delete("t", &T, "a", fresh()).await.unwrap());
    state.set("t", &T, "d", "1", None, fresh()).await.unwrap();
    assert_eq!(state.end_session("t", "s1").await.unwrap(), 1);
    state.set("t", &T, "e", "1", None, fresh()).await.unwrap();
}

async fn configured_limits_replace_the_defaults(backend: Backend) {
    let state = backend.store_with(StateLimits { max_key_bytes: 4, max_value_bytes: 2, ..Default::default() }).await;
    state.set("t", &T, "abcd", "xy", None, fresh()).await.unwrap();
    assert_eq!(invalid(state.set("t", &T, "abcde", "x", None, fresh()).await), "key is 5 bytes; the limit is 4 bytes");
    assert_eq!(
        invalid(state.set("t", &T, "a", "xyz", None, fresh()).await),
        "value for key \"a\" is 3 bytes; the limit is 2 bytes"
    );
}

on_each_backend! {
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        keys_up_to_the_limit_are_obeyed_and_longer_ones_refused,
        values_up_to_the_limit_are_obeyed_and_larger_ones_refused,
        session_ids_are_held_to_the_key_limit,
        the_key_quota_counts_every_scope_and_frees_on_delete,
        configured_limits_replace_the_defaults,
    ]
}
