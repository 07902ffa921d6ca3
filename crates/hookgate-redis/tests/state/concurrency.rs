use std::sync::Arc;

use hookgate_state::{ClaimOutcome, ClaimPool, StateBackend};
use tokio::task::JoinSet;

use crate::common::{Backend, T, fresh, op};

const TASKS: u64 = 64;
const PER_TASK: u64 = 500;

async fn concurrent_incrs_sum_exactly(backend: Backend) {
    let state = backend.store().await;
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let state = Arc::clone(&state);
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                state.incr("t", &T, "n", 2, None, op(task * PER_TASK + i, 0)).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
    }
    tasks.join_all().await;
    let total = (TASKS * PER_TASK * 2).to_string();
    assert_eq!(state.get("t", &T, "n").await.unwrap(), Some(total));
}

async fn concurrent_incrs_return_distinct_values(backend: Backend) {
    let state = backend.store().await;
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let state = Arc::clone(&state);
        tasks.spawn(async move { state.incr("t", &T, "ticket", 1, None, op(task, 0)).await.unwrap() });
    }
    let mut tickets = tasks.join_all().await;
    tickets.sort_unstable();
    assert_eq!(tickets, (1..=TASKS as i64).collect::<Vec<_>>());
}

async fn concurrent_deliveries_of_one_hook_apply_it_once(backend: Backend) {
    let state = backend.store().await;
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let state = Arc::clone(&state);
        tasks.spawn(async move { state.incr("t", &T, "n", 1, None, op(7, 0)).await.unwrap() });
    }
    assert!(tasks.join_all().await.into_iter().all(|n| n == 1));
    assert_eq!(state.get("t", &T, "n").await.unwrap().as_deref(), Some("1"));
}

/// Races `TASKS` compare-and-sets of an absent key to `value-i`; returns the winners.
async fn race(state: &Arc<dyn StateBackend>, round: u64) -> Vec<u64> {
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let state = Arc::clone(state);
        tasks.spawn(async move {
            let value = format!("owner-{task}");
            let won = state
                .compare_and_set("t", &T, "lock", None, Some(&value), None, op(round * TASKS + task, 0))
                .await
                .unwrap();
            won.then_some(task)
        });
    }
    tasks.join_all().await.into_iter().flatten().collect()
}

async fn a_compare_and_set_race_has_exactly_one_winner(backend: Backend) {
    let state = backend.store().await;
    for round in 0..20 {
        let winners = race(&state, round).await;
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let owner = format!("owner-{}", winners[0]);
        assert_eq!(state.get("t", &T, "lock").await.unwrap(), Some(owner.clone()));
        // Release it the way a lock holder does: only if it still holds it.
        let release = op(1 << 32 | round, 0);
        assert!(state.compare_and_set("t", &T, "lock", Some(&owner), None, None, release).await.unwrap());
    }
}

async fn a_compare_and_set_chain_loses_no_update(backend: Backend) {
    // Every task increments through a read + compare-and-set loop; lost updates would show.
    let state = backend.store().await;
    state.set("t", &T, "n", "0", None, op(u64::MAX, 0)).await.unwrap();
    let mut tasks = JoinSet::new();
    for task in 0..8u64 {
        let state = Arc::clone(&state);
        tasks.spawn(async move {
            let mut seq = 0;
            for _ in 0..100 {
                loop {
                    let current = state.get("t", &T, "n").await.unwrap().unwrap();
                    let next = (current.parse::<i64>().unwrap() + 1).to_string();
                    let id = op(task << 32, seq);
                    seq += 1;
                    if state.compare_and_set("t", &T, "n", Some(&current), Some(&next), None, id).await.unwrap() {
                        break;
                    }
                }
            }
        });
    }
    tasks.join_all().await;
    assert_eq!(state.get("t", &T, "n").await.unwrap().as_deref(), Some("800"));
}

async fn concurrent_claims_fill_the_cap_and_never_pass_it(backend: Backend) {
    let state = backend.store().await;
    let pool = ClaimPool { claims: "stream:", notes: "pub:" };
    let mut tasks = JoinSet::new();
    for n in 0..12 {
        let state = Arc::clone(&state);
        tasks.spawn(async move { state.claim("t", pool, &format!("n{n}"), &format!("s{n}"), 3, fresh()).await });
    }
    let outcomes = tasks.join_all().await;
    let count = |outcome| outcomes.iter().filter(|o| **o == Ok(outcome)).count();
    assert_eq!((count(ClaimOutcome::Held), count(ClaimOutcome::Full)), (3, 9), "{outcomes:?}");
    assert_eq!(state.keys("t", &T, "stream:").await.unwrap().len(), 3);
}

on_each_backend! {
    memory: #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
    redis: #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
    tests: [
        concurrent_incrs_sum_exactly,
        concurrent_incrs_return_distinct_values,
        concurrent_deliveries_of_one_hook_apply_it_once,
        a_compare_and_set_race_has_exactly_one_winner,
        a_compare_and_set_chain_loses_no_update,
        concurrent_claims_fill_the_cap_and_never_pass_it,
    ]
}
