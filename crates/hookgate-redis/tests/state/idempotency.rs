use hookgate_state::{StateError, StateLimits};

use crate::common::{Backend, T, fresh, op, session};

async fn a_replayed_incr_returns_the_first_result_and_counts_once(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(state.incr("t", &T, "publishers", 1, None, op(1, 0)).await.unwrap(), 1);
    assert_eq!(state.incr("t", &T, "publishers", 1, None, op(2, 0)).await.unwrap(), 2);
    // WCS retries hook 1: same digest, same position.
    assert_eq!(state.incr("t", &T, "publishers", 1, None, op(1, 0)).await.unwrap(), 1);
    assert_eq!(state.get("t", &T, "publishers").await.unwrap().as_deref(), Some("2"));
}

async fn a_replayed_evaluation_replays_each_position(backend: Backend) {
    let state = backend.store().await;
    // First delivery: two updates.
    assert_eq!(state.incr("t", &T, "a", 10, None, op(1, 0)).await.unwrap(), 10);
    assert_eq!(state.incr("t", &T, "b", 20, None, op(1, 1)).await.unwrap(), 20);
    // Retry: same updates, same answers, nothing applied.
    assert_eq!(state.incr("t", &T, "a", 10, None, op(1, 0)).await.unwrap(), 10);
    assert_eq!(state.incr("t", &T, "b", 20, None, op(1, 1)).await.unwrap(), 20);
    // A position the first delivery never reached is applied.
    assert_eq!(state.incr("t", &T, "a", 1, None, op(1, 2)).await.unwrap(), 11);
    assert_eq!(state.get("t", &T, "b").await.unwrap().as_deref(), Some("20"));
}

async fn a_replayed_compare_and_set_returns_the_first_result(backend: Backend) {
    let state = backend.store().await;
    assert!(state.compare_and_set("t", &T, "owner", None, Some("s1"), None, op(1, 0)).await.unwrap());
    // The retry would lose (the key is no longer absent) if applied again; it wins, as the first did.
    assert!(state.compare_and_set("t", &T, "owner", None, Some("s1"), None, op(1, 0)).await.unwrap());
    // Another hook loses, and its retry loses too, even once the key is free.
    assert!(!state.compare_and_set("t", &T, "owner", None, Some("s2"), None, op(2, 0)).await.unwrap());
    assert!(state.delete("t", &T, "owner", op(3, 0)).await.unwrap());
    assert!(!state.compare_and_set("t", &T, "owner", None, Some("s2"), None, op(2, 0)).await.unwrap());
    assert_eq!(state.get("t", &T, "owner").await.unwrap(), None);
}

async fn a_replayed_delete_returns_the_first_result_and_deletes_nothing_new(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", "v", None, op(1, 0)).await.unwrap();
    assert!(state.delete("t", &T, "k", op(2, 0)).await.unwrap());
    state.set("t", &T, "k", "set again", None, op(3, 0)).await.unwrap();
    assert!(state.delete("t", &T, "k", op(2, 0)).await.unwrap(), "replays true");
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("set again"));
}

async fn a_replayed_set_does_not_overwrite_a_later_value(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", "first", None, op(1, 0)).await.unwrap();
    state.set("t", &T, "k", "second", None, op(2, 0)).await.unwrap();
    state.set("t", &T, "k", "first", None, op(1, 0)).await.unwrap();
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("second"));
}

async fn errors_are_replayed_too(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", "text", None, fresh()).await.unwrap();
    let first = state.incr("t", &T, "k", 1, None, op(1, 0)).await.unwrap_err();
    state.set("t", &T, "k", "5", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &T, "k", 1, None, op(1, 0)).await.unwrap_err(), first);
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("5"));
}

async fn a_different_update_at_a_recorded_position_is_refused(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(state.incr("t", &T, "a", 1, None, op(1, 0)).await.unwrap(), 1);
    let Err(StateError::Invalid(msg)) = state.delete("t", &T, "a", op(1, 0)).await else {
        panic!("a delete where an incr was recorded must be refused");
    };
    assert!(msg.contains("update #0 of this hook delivery is a delete"), "{msg}");
    let Err(StateError::Invalid(msg)) = state.incr("t", &session("s"), "a", 1, None, op(1, 0)).await else {
        panic!("an incr of another key where an incr was recorded must be refused");
    };
    assert!(msg.contains("was an incr of another key"), "{msg}");
    assert_eq!(state.get("t", &T, "a").await.unwrap().as_deref(), Some("1"));
}

async fn the_journal_is_per_tenant(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(state.incr("t1", &T, "n", 1, None, op(1, 0)).await.unwrap(), 1);
    assert_eq!(state.incr("t2", &T, "n", 5, None, op(1, 0)).await.unwrap(), 5);
    assert_eq!(state.get("t2", &T, "n").await.unwrap().as_deref(), Some("5"));
}

async fn journal_entries_expire_after_the_window(backend: Backend) {
    let window = 4 * backend.unit();
    let state = backend.store_with(StateLimits { journal_ttl: window, ..Default::default() }).await;
    assert_eq!(state.incr("t", &T, "n", 1, None, op(1, 0)).await.unwrap(), 1);
    state.pass(window - backend.slack()).await;
    assert_eq!(state.incr("t", &T, "n", 1, None, op(1, 0)).await.unwrap(), 1, "inside the window: replayed");
    // The window runs from the hook's first update, not from its replays or later positions.
    assert_eq!(state.incr("t", &T, "n", 1, None, op(1, 1)).await.unwrap(), 2);
    state.pass(backend.slack()).await;
    assert_eq!(state.incr("t", &T, "n", 1, None, op(1, 0)).await.unwrap(), 3, "after the window: applied");
    assert_eq!(state.incr("t", &T, "n", 1, None, op(1, 1)).await.unwrap(), 4);
}

async fn a_retry_after_the_session_ended_does_not_bring_its_keys_back(backend: Backend) {
    let state = backend.store().await;
    let s = session("s1");
    assert_eq!(state.incr("t", &s, "publishing", 1, None, op(1, 0)).await.unwrap(), 1);
    assert_eq!(state.end_session("t", "s1").await.unwrap(), 1);
    assert_eq!(state.incr("t", &s, "publishing", 1, None, op(1, 0)).await.unwrap(), 1);
    assert!(state.keys("t", &s, "").await.unwrap().is_empty());
}

async fn a_mass_of_expired_journal_entries_is_forgotten_at_once(backend: Backend) {
    let window = backend.unit();
    let state = backend.store_with(StateLimits { journal_ttl: window, ..Default::default() }).await;
    for hook in 0..1000 {
        state.incr("t", &T, "n", 1, None, op(hook, 0)).await.unwrap();
    }
    state.pass(window).await;
    // Far more hooks expired than one call sweeps; the last one is forgotten all the same.
    assert_eq!(state.incr("t", &T, "n", 1, None, op(999, 0)).await.unwrap(), 1001);
    assert_eq!(state.incr("t", &T, "n", 1, None, op(999, 0)).await.unwrap(), 1001, "recorded afresh");
}

on_each_backend! {
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        a_replayed_incr_returns_the_first_result_and_counts_once,
        a_replayed_evaluation_replays_each_position,
        a_replayed_compare_and_set_returns_the_first_result,
        a_replayed_delete_returns_the_first_result_and_deletes_nothing_new,
        a_replayed_set_does_not_overwrite_a_later_value,
        errors_are_replayed_too,
        a_different_update_at_a_recorded_position_is_refused,
        the_journal_is_per_tenant,
        journal_entries_expire_after_the_window,
        a_retry_after_the_session_ended_does_not_bring_its_keys_back,
        a_mass_of_expired_journal_entries_is_forgotten_at_once,
    ]
}
