use std::time::Duration;

use hookgate_state::{MemoryState, MemoryStateConfig, StateBackend};
use tokio::time::advance;

use crate::common::{T, fresh, session, store};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn end_session_deletes_that_sessions_keys_only() {
    let state = store();
    for key in ["a", "b", "c"] {
        state.set("t", &session("s1"), key, "v", None, fresh()).await.unwrap();
    }
    state.set("t", &session("s2"), "a", "v", None, fresh()).await.unwrap();
    state.set("t", &T, "a", "v", None, fresh()).await.unwrap();
    state.set("other", &session("s1"), "a", "v", None, fresh()).await.unwrap();

    assert_eq!(state.end_session("t", "s1").await.unwrap(), 3);
    assert!(state.keys("t", &session("s1"), "").await.unwrap().is_empty());
    assert_eq!(state.get("t", &session("s1"), "a").await.unwrap(), None);
    assert_eq!(state.keys("t", &session("s2"), "").await.unwrap(), ["a"]);
    assert_eq!(state.keys("t", &T, "").await.unwrap(), ["a"]);
    assert_eq!(state.keys("other", &session("s1"), "").await.unwrap(), ["a"], "other tenant untouched");

    assert_eq!(state.end_session("t", "s1").await.unwrap(), 0, "a second end is a no-op");
    assert_eq!(state.end_session("t", "never").await.unwrap(), 0);
    assert_eq!(state.end_session("unknown", "s1").await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn end_session_does_not_count_expired_keys() {
    let state = store();
    state.set("t", &session("s"), "short", "v", Some(Duration::from_secs(1)), fresh()).await.unwrap();
    state.set("t", &session("s"), "long", "v", None, fresh()).await.unwrap();
    advance(Duration::from_secs(1)).await;
    assert_eq!(state.end_session("t", "s").await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn session_keys_expire_after_the_session_ttl_even_without_a_ttl() {
    let state = store();
    let s = session("s");
    state.set("t", &s, "no-ttl", "v", None, fresh()).await.unwrap();
    state.set("t", &s, "long-ttl", "v", Some(1000 * HOUR), fresh()).await.unwrap();
    state.set("t", &s, "short-ttl", "v", Some(HOUR), fresh()).await.unwrap();
    assert_eq!(state.incr("t", &s, "counter", 1, None, fresh()).await.unwrap(), 1);
    assert!(state.compare_and_set("t", &s, "cas", None, Some("v"), None, fresh()).await.unwrap());
    state.set("t", &T, "tenant", "v", None, fresh()).await.unwrap();

    advance(HOUR).await;
    assert_eq!(state.keys("t", &s, "").await.unwrap(), ["cas", "counter", "long-ttl", "no-ttl"]);
    advance(23 * HOUR - Duration::from_millis(1)).await;
    assert_eq!(state.keys("t", &s, "").await.unwrap().len(), 4);
    advance(Duration::from_millis(1)).await;
    assert!(state.keys("t", &s, "").await.unwrap().is_empty(), "24 h is the default session TTL");
    assert_eq!(state.get("t", &T, "tenant").await.unwrap().as_deref(), Some("v"), "tenant keys have no cap");
}

#[tokio::test(start_paused = true)]
async fn writing_a_session_key_again_restarts_its_session_ttl() {
    let state = MemoryState::new(MemoryStateConfig { session_ttl: HOUR, ..Default::default() });
    let s = session("s");
    state.set("t", &s, "k", "1", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &s, "n", 1, None, fresh()).await.unwrap(), 1);
    advance(HOUR / 2).await;
    state.set("t", &s, "k", "2", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &s, "n", 1, None, fresh()).await.unwrap(), 2, "incr without TTL keeps the expiry");
    advance(HOUR / 2).await;
    assert_eq!(state.get("t", &s, "k").await.unwrap().as_deref(), Some("2"));
    assert_eq!(state.get("t", &s, "n").await.unwrap(), None);
    advance(HOUR / 2).await;
    assert_eq!(state.get("t", &s, "k").await.unwrap(), None);
}
