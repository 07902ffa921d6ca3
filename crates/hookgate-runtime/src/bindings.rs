//! Host bindings generated from `wit/hookgate.wit`, for the widest world (`capable-policy`):
//! a policy built against `policy` imports a subset of it and links the same way.

#![allow(missing_docs, unreachable_pub)]

wasmtime::component::bindgen!({
    world: "capable-policy",
    path: "../../wit",
    imports: {
        "hookgate:policy/state.get": async | trappable,
        "hookgate:policy/state.set": async | trappable,
        "hookgate:policy/state.delete": async | trappable,
        "hookgate:policy/state.incr": async | trappable,
        "hookgate:policy/state.compare-and-set": async | trappable,
        "hookgate:policy/state.keys": async | trappable,
        "hookgate:policy/state.claim": async | trappable,
        "hookgate:policy/state.release": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    ownership: Borrowing { duplicate_if_necessary: true },
});
