use crate::common::{Backend, T, fresh, session};

async fn tenants_never_see_each_others_keys(backend: Backend) {
    let state = backend.store().await;
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

async fn crafted_names_reach_no_other_tenant_or_scope(backend: Backend) {
    let state = backend.store().await;
    state.set("a", &T, "secret", "a's", None, fresh()).await.unwrap();
    state.set("a", &session("s"), "k", "a's session", None, fresh()).await.unwrap();
    // Names that would land on those keys under a layout that joined or tagged names unescaped.
    let tenants = ["a}", "{a}", "a}:v:t", "a:", "a:v:t", "a%7D", "%", "", "A", "a "];
    for tenant in tenants {
        assert_eq!(state.get(tenant, &T, "secret").await.unwrap(), None, "tenant {tenant:?}");
        assert_eq!(state.get(tenant, &session("s"), "k").await.unwrap(), None, "tenant {tenant:?}");
        assert!(state.keys(tenant, &T, "").await.unwrap().is_empty(), "tenant {tenant:?}");
        assert!(!state.delete(tenant, &T, "secret", fresh()).await.unwrap(), "tenant {tenant:?}");
        assert_eq!(state.end_session(tenant, "s").await.unwrap(), 0, "tenant {tenant:?}");
    }
    for (scope, key) in [
        (session("t"), "secret"),
        (session(""), "secret"),
        (session(":t"), "secret"),
        (T, "s:k"),
        (T, "ss:k"),
        (session("s:"), "k"),
        (session("s"), ":k"),
        (session("s%3A"), "k"),
    ] {
        assert_eq!(state.get("a", &scope, key).await.unwrap(), None, "{scope:?} {key:?}");
        assert!(!state.delete("a", &scope, key, fresh()).await.unwrap(), "{scope:?} {key:?}");
    }
    for crafted in ["t", "", "s:", "ss"] {
        assert_eq!(state.end_session("a", crafted).await.unwrap(), 0, "session {crafted:?}");
    }
    // The crafted tenants' own keys stay theirs.
    state.set("a}", &T, "secret", "crafted", None, fresh()).await.unwrap();
    state.set("", &T, "secret", "empty", None, fresh()).await.unwrap();
    assert_eq!(state.get("a", &T, "secret").await.unwrap().as_deref(), Some("a's"));
    assert_eq!(state.get("a", &session("s"), "k").await.unwrap().as_deref(), Some("a's session"));
    assert_eq!(state.keys("a", &T, "").await.unwrap(), ["secret"]);
    assert_eq!(state.get("a}", &T, "secret").await.unwrap().as_deref(), Some("crafted"));
    assert_eq!(state.get("", &T, "secret").await.unwrap().as_deref(), Some("empty"));
}

on_each_backend! {
    memory: #[tokio::test(start_paused = true)],
    redis: #[tokio::test],
    tests: [
        tenants_never_see_each_others_keys,
        crafted_names_reach_no_other_tenant_or_scope,
    ]
}
