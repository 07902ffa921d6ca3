use std::time::Duration;

use hookgate_state::{MemoryState, MemoryStateConfig, StateBackend};
use tokio::time::advance;

use crate::common::{T, fresh, store};

const SEC: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_key_expires_exactly_at_its_ttl() {
    let state = store();
    state.set("t", &T, "k", "v", Some(10 * SEC), fresh()).await.unwrap();
    state.set("t", &T, "forever", "v", None, fresh()).await.unwrap();
    advance(10 * SEC - Duration::from_millis(1)).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("v"));
    advance(Duration::from_millis(1)).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap(), None);
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["forever"]);
    assert!(!state.delete("t", &T, "k", fresh()).await.unwrap(), "an expired key does not exist");
}

#[tokio::test(start_paused = true)]
async fn a_zero_ttl_means_none_as_in_the_wit() {
    let state = store();
    state.set("t", &T, "k", "v", Some(Duration::ZERO), fresh()).await.unwrap();
    advance(1000 * SEC).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test(start_paused = true)]
async fn set_replaces_the_ttl_and_incr_keeps_it_unless_given_one() {
    let state = store();
    state.set("t", &T, "k", "v", Some(5 * SEC), fresh()).await.unwrap();
    state.set("t", &T, "k", "w", None, fresh()).await.unwrap();
    advance(60 * SEC).await;
    assert_eq!(state.get("t", &T, "k").await.unwrap().as_deref(), Some("w"), "set without TTL clears it");

    assert_eq!(state.incr("t", &T, "n", 1, Some(10 * SEC), fresh()).await.unwrap(), 1);
    advance(6 * SEC).await;
    assert_eq!(state.incr("t", &T, "n", 1, None, fresh()).await.unwrap(), 2);
    advance(4 * SEC).await;
    assert_eq!(state.get("t", &T, "n").await.unwrap(), None, "incr without TTL kept the expiry");

    assert_eq!(state.incr("t", &T, "m", 1, Some(10 * SEC), fresh()).await.unwrap(), 1);
    advance(6 * SEC).await;
    assert_eq!(state.incr("t", &T, "m", 1, Some(10 * SEC), fresh()).await.unwrap(), 2);
    advance(6 * SEC).await;
    assert_eq!(state.get("t", &T, "m").await.unwrap().as_deref(), Some("2"), "incr with TTL reset it");
    advance(4 * SEC).await;
    assert_eq!(state.get("t", &T, "m").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn an_expired_counter_restarts_from_zero() {
    let state = store();
    assert_eq!(state.incr("t", &T, "rate", 5, Some(SEC), fresh()).await.unwrap(), 5);
    advance(SEC).await;
    assert_eq!(state.incr("t", &T, "rate", 1, Some(SEC), fresh()).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn compare_and_set_sees_an_expired_key_as_absent() {
    let state = store();
    assert!(state.compare_and_set("t", &T, "lock", None, Some("a"), Some(30 * SEC), fresh()).await.unwrap());
    assert!(!state.compare_and_set("t", &T, "lock", None, Some("b"), Some(30 * SEC), fresh()).await.unwrap());
    advance(30 * SEC).await;
    assert!(state.compare_and_set("t", &T, "lock", None, Some("b"), Some(30 * SEC), fresh()).await.unwrap());
    assert_eq!(state.get("t", &T, "lock").await.unwrap().as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn expired_keys_free_their_quota() {
    let state = MemoryState::new(MemoryStateConfig { max_keys_per_tenant: 3, ..Default::default() });
    for key in ["a", "b", "c"] {
        state.set("t", &T, key, "v", Some(SEC), fresh()).await.unwrap();
    }
    assert!(state.set("t", &T, "d", "v", None, fresh()).await.is_err());
    advance(SEC).await;
    for key in ["d", "e", "f"] {
        state.set("t", &T, key, "v", None, fresh()).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_mass_expiry_is_invisible_at_once_though_swept_in_batches() {
    let state = MemoryState::new(MemoryStateConfig { max_keys_per_tenant: 1000, ..Default::default() });
    for i in 0..1000 {
        state.set("t", &T, &format!("k{i:04}"), "v", Some(SEC), fresh()).await.unwrap();
    }
    advance(SEC).await;
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
