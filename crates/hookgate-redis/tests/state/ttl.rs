use hookgate_state::StateLimits;

use crate::common::{Backend, T, fresh};

async fn a_key_expires_exactly_at_its_ttl(backend: Backend) {
    let state = backend.store().await;
    let unit = backend.unit();
    state.set("t", &T, "k", "v", Some(5 * unit), fresh()).await.unwrap();
    state.set("t", &T, "forever", "v", None, fresh()).await.unwrap();
    state.pass(5 * unit - backend.slack()).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("v"));
    state.pass(backend.slack()).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap(), None);
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["forever"]);
    assert!(!state.delete("t", &T, "k", fresh()).await.unwrap(), "an expired key does not exist");
}

async fn a_zero_ttl_means_none_as_in_the_wit(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &T, "k", "v", Some(std::time::Duration::ZERO), fresh()).await.unwrap();
    state.pass(3 * backend.unit()).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("v"));
}

async fn set_replaces_the_ttl_and_incr_keeps_it_unless_given_one(backend: Backend) {
    let state = backend.store().await;
    let unit = backend.unit();
    state.set("t", &T, "k", "v", Some(2 * unit), fresh()).await.unwrap();
    state.set("t", &T, "k", "w", None, fresh()).await.unwrap();
    state.pass(3 * unit).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("w"), "set without TTL clears it");

    assert_eq!(state.incr("t", &T, "n", 1, Some(4 * unit), fresh()).await.unwrap(), 1);
    state.pass(2 * unit).await;
    assert_eq!(state.incr("t", &T, "n", 1, None, fresh()).await.unwrap(), 2);
    state.pass(2 * unit).await;
    assert_eq!(state.get("t", &T, "n").await.unwrap(), None, "incr without TTL kept the expiry");

    assert_eq!(state.incr("t", &T, "m", 1, Some(4 * unit), fresh()).await.unwrap(), 1);
    state.pass(2 * unit).await;
    assert_eq!(state.incr("t", &T, "m", 1, Some(4 * unit), fresh()).await.unwrap(), 2);
    state.pass(2 * unit).await;
    assert_eq!(state.get("t", &T, "m").await.unwrap().as_deref(), Some("2"), "incr with TTL reset it");
    state.pass(2 * unit).await;
    assert_eq!(state.get("t", &T, "m").await.unwrap(), None);
}

async fn an_expired_counter_restarts_from_zero(backend: Backend) {
    let state = backend.store().await;
    let unit = backend.unit();
    assert_eq!(state.incr("t", &T, "rate", 5, Some(unit), fresh()).await.unwrap(), 5);
    state.pass(unit).await;
    assert_eq!(state.incr("t", &T, "rate", 1, Some(unit), fresh()).await.unwrap(), 1);
}

async fn compare_and_set_sees_an_expired_key_as_absent(backend: Backend) {
    let state = backend.store().await;
    let ttl = Some(2 * backend.unit());
    assert!(state.compare_and_set("t", &T, "lock", None, Some("a"), ttl, fresh()).await.unwrap());
    assert!(!state.compare_and_set("t", &T, "lock", None, Some("b"), ttl, fresh()).await.unwrap());
    state.pass(2 * backend.unit()).await;
    assert!(state.compare_and_set("t", &T, "lock", None, Some("b"), ttl, fresh()).await.unwrap());
    assert_eq!(state.get("t", &T, "lock").await.unwrap().as_deref(), Some("b"));
}

async fn expired_keys_free_their_quota(backend: Backend) {
    let state = backend.store_with(StateLimits { max_keys_per_tenant: 3, ..Default::default() }).await;
    for key in ["a", "b", "c"] {
        state.set("t", &T, key, "v", Some(backend.unit()), fresh()).await.unwrap();
    }
    assert!(state.set("t", &T, "d", "v", None, fresh()).await.is_err());
    state.pass(backend.unit()).await;
    for key in ["d", "e", "f"] {
        state.set("t", &T, key, "v", None, fresh()).await.unwrap();
    }
}

async fn a_mass_expiry_is_invisible_at_once_though_swept_in_batches(backend: Backend) {
    let state = backend.store_with(StateLimits { max_keys_per_tenant: 1000, ..Default::default() }).await;
    for i in 0..1000 {
        state.set("t", &T, &format!("k{i:04}"), "v", Some(backend.unit()), fresh()).await.unwrap();
    }
    state.pass(backend.unit()).await;
    assert!(state.keys("t", &T, "k").await.unwrap().is_empty());
    assert_eq!(state.get("t", &T, "k0999").await.unwrap(), None);
    assert!(!state.delete("t", &T, "k0998", fresh()).await.unwrap());
    assert_eq!(state.incr("t", &T, "k0997", 1, None, fresh()).await.unwrap(), 1, "an expired counter is 0");
    // Unswept expired keys never make the quota refuse a key.
    for i in 0..999 {
        state.set("t", &T, &format!("new{i:04}"), "v", None, fresh()).await.unwrap();
    }
    assert_eq!(state.keys("t", &T, "").await.unwrap().len(), 1000);
}

on_each_backend! {
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        a_key_expires_exactly_at_its_ttl,
        a_zero_ttl_means_none_as_in_the_wit,
        set_replaces_the_ttl_and_incr_keeps_it_unless_given_one,
        an_expired_counter_restarts_from_zero,
        compare_and_set_sees_an_expired_key_as_absent,
        expired_keys_free_their_quota,
        a_mass_expiry_is_invisible_at_once_though_swept_in_batches,
    ]
}
