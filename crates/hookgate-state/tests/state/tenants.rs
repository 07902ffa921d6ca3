use hookgate_state::StateBackend;

use crate::common::{T, fresh, session, store};

#[tokio::test]
async fn tenants_never_see_each_others_keys() {
    let state = store();
    state.set("alice", &T, "k", "alice's", None, fresh()).await.unwrap();
    state.set("alice", &session("s1"), "k", "alice's session", None, fresh()).await.unwrap();
    assert_eq!(state.incr("alice", &T, "n", 10, None, fresh()).await.unwrap(), 10);

    assert_eq!(state.get("bob", &T, "k").await.unwrap(), None);
    assert_eq!(state.get("bob", &session("s1"), "k").await.unwrap(), None);
    assert!(state.keys("bob", &T, "").await.unwrap().is_empty());
    assert!(!state.delete("bob", &T, "k", fresh()).await.unwrap());
    assert_eq!(state.incr("bob", &T, "n", 1, None, fresh()).await.unwrap(), 1);
    assert!(state.compare_and_set("bob", &T, "k", None, Some("bob's"), None, fresh()).await.unwrap());
    assert_eq!(state.end_session("bob", "s1").await.unwrap(), 0);

    assert_eq!(state.get("alice", &T, "k").await.unwrap().as_deref(), Some("alice's"));
    assert_eq!(state.get("alice", &session("s1"), "k").await.unwrap().as_deref(), Some("alice's session"));
    assert_eq!(state.get("alice", &T, "n").await.unwrap().as_deref(), Some("10"));
    assert_eq!(state.keys("alice", &T, "").await.unwrap(), ["k", "n"]);
    assert_eq!(state.get("bob", &T, "k").await.unwrap().as_deref(), Some("bob's"));
}
