use std::sync::Arc;

use hookgate_redis::RedisState;
use hookgate_state::{StateBackend, StateError, StateLimits};
use tokio::task::JoinSet;

use crate::common::{RedisServer, T, fresh, op, redis_state, session};

/// Two hookgate processes: two backends on one Redis, sharing nothing else.
fn two_processes(server: &RedisServer, limits: StateLimits) -> (Arc<RedisState>, Arc<RedisState>) {
    (redis_state(&server.url(), limits.clone()), redis_state(&server.url(), limits))
}

#[tokio::test]
async fn a_hook_retried_through_each_process_counts_once() {
    let server = RedisServer::start();
    let (first, second) = two_processes(&server, StateLimits::default());
    assert_eq!(first.incr("t", &T, "publishers", 1, None, op(1, 0)).await.unwrap(), 1);
    // WCS retries hook 1 and the load balancer sends it to the other process.
    assert_eq!(second.incr("t", &T, "publishers", 1, None, op(1, 0)).await.unwrap(), 1);
    assert_eq!(second.incr("t", &T, "publishers", 1, None, op(2, 0)).await.unwrap(), 2);
    assert_eq!(first.incr("t", &T, "publishers", 1, None, op(2, 0)).await.unwrap(), 2);
    assert_eq!(first.get("t", &T, "publishers").await.unwrap().as_deref(), Some("2"));
    // The journal is shared too: a different update at a recorded position is refused.
    assert!(matches!(second.delete("t", &T, "publishers", op(1, 0)).await, Err(StateError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_through_both_processes_apply_once() {
    let server = RedisServer::start();
    let (first, second) = two_processes(&server, StateLimits::default());
    let mut tasks = JoinSet::new();
    for delivery in 0..32 {
        let state: Arc<dyn StateBackend> = if delivery % 2 == 0 { first.clone() } else { second.clone() };
        tasks.spawn(async move { state.incr("t", &T, "n", 1, None, op(7, 0)).await.unwrap() });
    }
    assert!(tasks.join_all().await.into_iter().all(|n| n == 1));
    assert_eq!(second.get("t", &T, "n").await.unwrap().as_deref(), Some("1"));
}

#[tokio::test]
async fn ending_a_session_through_one_process_deletes_keys_set_through_the_other() {
    let server = RedisServer::start();
    let (first, second) = two_processes(&server, StateLimits::default());
    first.set("t", &session("s1"), "a", "1", None, fresh()).await.unwrap();
    second.set("t", &session("s1"), "b", "1", None, fresh()).await.unwrap();
    assert_eq!(first.incr("t", &session("s1"), "n", 1, None, fresh()).await.unwrap(), 1);
    second.set("t", &session("s2"), "a", "1", None, fresh()).await.unwrap();
    assert_eq!(first.keys("t", &session("s1"), "").await.unwrap(), ["a", "b", "n"]);

    assert_eq!(second.end_session("t", "s1").await.unwrap(), 3);
    assert!(first.keys("t", &session("s1"), "").await.unwrap().is_empty());
    assert_eq!(first.get("t", &session("s1"), "a").await.unwrap(), None);
    assert_eq!(first.keys("t", &session("s2"), "").await.unwrap(), ["a"]);
}

#[tokio::test]
async fn the_key_quota_holds_across_processes() {
    let server = RedisServer::start();
    let (first, second) = two_processes(&server, StateLimits { max_keys_per_tenant: 2, ..Default::default() });
    first.set("t", &T, "a", "1", None, fresh()).await.unwrap();
    second.set("t", &session("s"), "b", "1", None, fresh()).await.unwrap();
    let Err(StateError::Invalid(msg)) = first.set("t", &T, "c", "1", None, fresh()).await else {
        panic!("the third key must be refused");
    };
    assert!(msg.starts_with("tenant \"t\" holds 2 keys, the limit is 2"), "{msg}");
    assert_eq!(first.end_session("t", "s").await.unwrap(), 1);
    second.set("t", &T, "c", "1", None, fresh()).await.unwrap();
}
