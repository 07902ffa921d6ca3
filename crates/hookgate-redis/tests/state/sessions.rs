use std::time::Duration;

use hookgate_state::StateLimits;

use crate::common::{Backend, T, fresh, session};

async fn end_session_deletes_that_sessions_keys_only(backend: Backend) {
    let state = backend.store().await;
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

async fn end_session_does_not_count_expired_keys(backend: Backend) {
    let state = backend.store().await;
    state.set("t", &session("s"), "short", "v", Some(backend.unit()), fresh()).await.unwrap();
    state.set("t", &session("s"), "long", "v", None, fresh()).await.unwrap();
    state.pass(backend.unit()).await;
    assert_eq!(state.end_session("t", "s").await.unwrap(), 1);
}

#[test]
fn the_default_session_ttl_is_a_day() {
    assert_eq!(StateLimits::default().session_ttl, Duration::from_secs(24 * 3600));
}

async fn session_keys_expire_after_the_session_ttl_even_without_a_ttl(backend: Backend) {
    let unit = backend.unit();
    let state = backend.store_with(StateLimits { session_ttl: 4 * unit, ..Default::default() }).await;
    let s = session("s");
    state.set("t", &s, "no-ttl", "v", None, fresh()).await.unwrap();
    state.set("t", &s, "long-ttl", "v", Some(1000 * unit), fresh()).await.unwrap();
    state.set("t", &s, "short-ttl", "v", Some(unit), fresh()).await.unwrap();
    assert_eq!(state.incr("t", &s, "counter", 1, None, fresh()).await.unwrap(), 1);
    assert!(state.compare_and_set("t", &s, "cas", None, Some("v"), None, fresh()).await.unwrap());
    state.set("t", &T, "tenant", "v", None, fresh()).await.unwrap();

    state.pass(unit).await;
    assert_eq!(state.keys("t", &s, "").await.unwrap(), ["cas", "counter", "long-ttl", "no-ttl"]);
    state.pass(3 * unit - backend.slack()).await;
    assert_eq!(state.keys("t", &s, "").await.unwrap().len(), 4);
    state.pass(backend.slack()).await;
    assert!(state.keys("t", &s, "").await.unwrap().is_empty(), "the session TTL caps every key");
    assert_eq!(state.get("t", &T, "tenant").await.unwrap().as_deref(), Some("v"), "tenant keys have no cap");
}

async fn writing_a_session_key_again_restarts_its_session_ttl(backend: Backend) {
    let unit = backend.unit();
    let state = backend.store_with(StateLimits { session_ttl: 4 * unit, ..Default::default() }).await;
    let s = session("s");
    state.set("t", &s, "k", "1", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &s, "n", 1, None, fresh()).await.unwrap(), 1);
    state.pass(2 * unit).await;
    state.set("t", &s, "k", "2", None, fresh()).await.unwrap();
    assert_eq!(state.incr("t", &s, "n", 1, None, fresh()).await.unwrap(), 2, "incr without TTL keeps the expiry");
    state.pass(2 * unit).await;
    assert_eq!(state.get("t", &s, "k").await.unwrap().as_deref(), Some("2"));
    assert_eq!(state.get("t", &s, "n").await.unwrap(), None);
    state.pass(2 * unit).await;
    assert_eq!(state.get("t", &s, "k").await.unwrap(), None);
}

async fn a_session_is_recorded_under_the_tenant_it_connected_under_until_it_ends(backend: Backend) {
    let unit = backend.unit();
    let state = backend.store_with(StateLimits { session_ttl: 4 * unit, ..Default::default() }).await;
    // Names that escape alike in Redis keys stay apart.
    for (tenant, session) in [("t", "s1"), ("other", "s:2"), ("t", "s%3A2"), ("t", "{s3}")] {
        state.bind_session(tenant, session).await.unwrap();
    }
    assert_eq!(state.session_tenant("s1").await.unwrap().as_deref(), Some("t"));
    assert_eq!(state.session_tenant("s:2").await.unwrap().as_deref(), Some("other"));
    assert_eq!(state.session_tenant("s%3A2").await.unwrap().as_deref(), Some("t"));
    assert_eq!(state.session_tenant("{s3}").await.unwrap().as_deref(), Some("t"));
    assert_eq!(state.session_tenant("never").await.unwrap(), None);

    // Only its own tenant's end removes the record; the latest binding wins.
    state.end_session("other", "s1").await.unwrap();
    assert_eq!(state.session_tenant("s1").await.unwrap().as_deref(), Some("t"));
    state.end_session("t", "s1").await.unwrap();
    assert_eq!(state.session_tenant("s1").await.unwrap(), None);
    state.bind_session("t", "s:2").await.unwrap();
    assert_eq!(state.session_tenant("s:2").await.unwrap().as_deref(), Some("t"));

    // Records go after the session TTL.
    state.pass(4 * unit + backend.slack()).await;
    assert_eq!(state.session_tenant("{s3}").await.unwrap(), None);
    let long = "s".repeat(257);
    assert!(state.bind_session("t", &long).await.is_err(), "session ids are bounded like session scopes");
}

on_each_backend! {
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        a_session_is_recorded_under_the_tenant_it_connected_under_until_it_ends,
        end_session_deletes_that_sessions_keys_only,
        end_session_does_not_count_expired_keys,
        session_keys_expire_after_the_session_ttl_even_without_a_ttl,
        writing_a_session_key_again_restarts_its_session_ttl,
    ]
}
