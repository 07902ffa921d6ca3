use hookgate_state::{ClaimOutcome, ClaimPool, StateBackend, StateError, StateLimits, UpdateKind};

use crate::common::{Backend, T, fresh, op, session};

const POOL: ClaimPool<'static> = ClaimPool { claims: "stream:", notes: "pub:" };

async fn claim(state: &dyn StateBackend, session: &str, name: &str, max: u32) -> ClaimOutcome {
    state.claim("t", POOL, name, session, max, fresh()).await.unwrap()
}

async fn a_claim_holds_a_name_per_session_within_the_cap(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(claim(&**state, "s1", "a", 2).await, ClaimOutcome::Held);
    assert_eq!(state.get("t", &T, "stream:a").await.unwrap().as_deref(), Some("s1"));
    assert_eq!(state.get("t", &session("s1"), "pub:a").await.unwrap().as_deref(), Some("\u{1}stream:a"));
    assert_eq!(claim(&**state, "s1", "a", 2).await, ClaimOutcome::Held, "the same session again");
    assert_eq!(claim(&**state, "s2", "a", 2).await, ClaimOutcome::Taken);
    assert_eq!(state.get("t", &session("s2"), "pub:a").await.unwrap(), None, "no note left behind");
    assert_eq!(state.get("t", &T, "stream:a").await.unwrap().as_deref(), Some("s1"), "the owner keeps it");
    assert_eq!(claim(&**state, "s2", "b", 2).await, ClaimOutcome::Held);
    assert_eq!(claim(&**state, "s3", "c", 2).await, ClaimOutcome::Full);
    assert_eq!(state.get("t", &T, "stream:c").await.unwrap(), None);
    assert_eq!(state.get("t", &session("s3"), "pub:c").await.unwrap(), None);
    // A session may hold several names, each one a slot.
    assert_eq!(claim(&**state, "s1", "d", 3).await, ClaimOutcome::Held);
    assert_eq!(state.keys("t", &T, "stream:").await.unwrap(), ["stream:a", "stream:b", "stream:d"]);
}

async fn release_gives_back_one_name_or_all_a_session_notes(backend: Backend) {
    let state = backend.store().await;
    for (s, name) in [("s1", "a"), ("s1", "b"), ("s2", "c")] {
        assert_eq!(claim(&**state, s, name, 3).await, ClaimOutcome::Held);
    }
    assert_eq!(state.release("t", POOL, "s2", Some("a"), fresh()).await, Ok(0), "not s2's");
    assert_eq!(state.get("t", &T, "stream:a").await.unwrap().as_deref(), Some("s1"));
    assert_eq!(state.release("t", POOL, "s1", Some("a"), fresh()).await, Ok(1));
    assert_eq!(state.get("t", &T, "stream:a").await.unwrap(), None);
    assert_eq!(state.get("t", &session("s1"), "pub:a").await.unwrap(), None);
    assert_eq!(claim(&**state, "s3", "d", 3).await, ClaimOutcome::Held, "a's slot is free");
    assert_eq!(state.release("t", POOL, "s1", None, fresh()).await, Ok(1), "b, all s1 still notes");
    assert_eq!(state.keys("t", &session("s1"), "").await.unwrap(), Vec::<String>::new());
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["stream:c", "stream:d"]);
    assert_eq!(state.release("t", POOL, "s1", None, fresh()).await, Ok(0));
}

async fn an_orphaned_claim_is_not_counted_and_is_cleared_or_taken_over(backend: Backend) {
    let state = backend.store().await;
    // A claim is orphaned when its note is gone without the session's end (the session TTL).
    let orphan = |s: &'static str, name: &'static str| {
        let state = &state;
        async move { assert!(state.delete("t", &session(s), &format!("pub:{name}"), fresh()).await.unwrap()) }
    };
    assert_eq!(claim(&**state, "s1", "a", 2).await, ClaimOutcome::Held);
    assert_eq!(claim(&**state, "s2", "b", 2).await, ClaimOutcome::Held);
    orphan("s1", "a").await;
    assert_eq!(claim(&**state, "s3", "c", 2).await, ClaimOutcome::Held, "s1's orphaned claim does not count");
    assert_eq!(state.get("t", &T, "stream:a").await.unwrap(), None, "and was cleared");
    assert_eq!(claim(&**state, "s4", "d", 2).await, ClaimOutcome::Full);
    // An orphaned name is taken over by the next claim of it.
    orphan("s2", "b").await;
    assert_eq!(claim(&**state, "s5", "b", 2).await, ClaimOutcome::Held);
    assert_eq!(state.get("t", &T, "stream:b").await.unwrap().as_deref(), Some("s5"));
    // A full pool deletes the orphaned claim of the name it refused.
    assert_eq!(claim(&**state, "s6", "e", 3).await, ClaimOutcome::Held, "3 claims: none looked at");
    orphan("s5", "b").await;
    state.set("t", &session("s7"), "pub:b", "1", None, fresh()).await.unwrap();
    assert_eq!(claim(&**state, "s7", "b", 2).await, ClaimOutcome::Full);
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["stream:c", "stream:e"]);
    assert_eq!(state.get("t", &session("s7"), "pub:b").await.unwrap(), None);
}

async fn a_sessions_end_gives_back_the_claims_it_still_holds(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(claim(&**state, "s1", "a", 3).await, ClaimOutcome::Held);
    assert_eq!(claim(&**state, "s1", "b", 3).await, ClaimOutcome::Held);
    assert_eq!(state.get("t", &session("s1"), "pub:a").await.unwrap().as_deref(), Some("\u{1}stream:a"));
    // b's note is lost and b taken over by s2: the end of s1 must leave s2's claim alone.
    state.delete("t", &session("s1"), "pub:b", fresh()).await.unwrap();
    assert_eq!(claim(&**state, "s2", "b", 3).await, ClaimOutcome::Held);
    // Values that are not notes name nothing to give back, even a key holding the session id.
    state.set("t", &T, "owner", "s1", None, fresh()).await.unwrap();
    state.set("t", &session("s1"), "k", "owner", None, fresh()).await.unwrap();
    assert_eq!(state.end_session("t", "s1").await, Ok(2));
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["owner", "stream:b"]);
    assert_eq!(state.get("t", &T, "stream:b").await.unwrap().as_deref(), Some("s2"));
    // The end of s2 frees the pool.
    state.end_session("t", "s2").await.unwrap();
    assert_eq!(state.keys("t", &T, "stream:").await.unwrap(), Vec::<String>::new());
    for n in ["x", "y", "z"] {
        assert_eq!(claim(&**state, "s3", n, 3).await, ClaimOutcome::Held);
    }
}

async fn a_retried_claim_or_release_gets_the_first_answer(backend: Backend) {
    let state = backend.store().await;
    assert_eq!(state.claim("t", POOL, "a", "s1", 1, op(1, 0)).await, Ok(ClaimOutcome::Held));
    assert_eq!(state.claim("t", POOL, "b", "s2", 1, op(2, 0)).await, Ok(ClaimOutcome::Full));
    assert_eq!(state.release("t", POOL, "s1", None, op(3, 0)).await, Ok(1));
    // The retries see the first deliveries' answers, although the pool has changed since.
    assert_eq!(state.claim("t", POOL, "b", "s2", 1, op(2, 0)).await, Ok(ClaimOutcome::Full));
    assert_eq!(state.release("t", POOL, "s1", None, op(3, 0)).await, Ok(1));
    assert_eq!(state.claim("t", POOL, "a", "s1", 1, op(1, 0)).await, Ok(ClaimOutcome::Held));
    assert_eq!(state.get("t", &T, "stream:a").await.unwrap(), None, "the replay applied nothing");
    let mismatch = state.release("t", POOL, "s1", Some("a"), op(1, 0)).await;
    assert_eq!(mismatch, Err(StateError::replay_mismatch(0, UpdateKind::Claim, UpdateKind::Release)));
}

async fn a_claim_that_would_pass_the_key_quota_is_invalid_and_changes_nothing(backend: Backend) {
    let state = backend.store_with(StateLimits { max_keys_per_tenant: 3, ..StateLimits::default() }).await;
    assert_eq!(claim(&**state, "s1", "a", 5).await, ClaimOutcome::Held);
    state.set("t", &T, "other", "x", None, fresh()).await.unwrap();
    let refused = state.claim("t", POOL, "b", "s2", 5, fresh()).await;
    let quota =
        "tenant \"t\" holds 3 keys, the limit is 3: cannot add key \"stream:b\" (delete keys or give them a TTL)";
    assert_eq!(refused, Err(StateError::Invalid(quota.into())));
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["other", "stream:a"]);
    assert_eq!(state.keys("t", &session("s2"), "").await.unwrap(), Vec::<String>::new());
    assert_eq!(claim(&**state, "s1", "a", 5).await, ClaimOutcome::Held, "held already: adds nothing");
}

on_each_backend!(
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        a_claim_holds_a_name_per_session_within_the_cap,
        release_gives_back_one_name_or_all_a_session_notes,
        an_orphaned_claim_is_not_counted_and_is_cleared_or_taken_over,
        a_sessions_end_gives_back_the_claims_it_still_holds,
        a_retried_claim_or_release_gets_the_first_answer,
        a_claim_that_would_pass_the_key_quota_is_invalid_and_changes_nothing,
    ]
);
