//! Host bindings generated from `wit/hookgate.wit`.

#![allow(missing_docs, unreachable_pub)]

wasmtime::component::bindgen!({
    world: "policy",
    path: "../../wit",
    imports: { default: trappable },
    exports: { default: async },
    ownership: Borrowing { duplicate_if_necessary: true },
});
