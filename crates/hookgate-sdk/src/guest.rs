//! The wasm32 side: wit-bindgen bindings, the global allocator and the glue used by
//! [`policy!`](crate::policy). All of the SDK's `unsafe` lives here.

#![allow(unsafe_code)]

use crate::{Hook, MethodKind, Verdict};

/// Bindings for `wit/hookgate.wit`, generated once here so policy crates never call
/// `generate!` themselves; `policy!` uses the exported `export!` macro.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "capable-policy",
        path: "../../wit/hookgate.wit",
        pub_export_macro: true,
        export_macro_name: "__hookgate_export_policy",
        default_bindings_module: "hookgate_sdk::__private::bindings",
    });
}

pub use bindings::__hookgate_export_policy as export;
pub use bindings::Guest;
use bindings::hookgate::policy::types::{Denial, MethodKind as WitKind};
pub use bindings::{Hook as WitHook, Verdict as WitVerdict};

/// Runs the policy function on a hook received from the host.
pub fn evaluate(hook: WitHook, f: fn(&Hook) -> Result<Verdict, String>) -> Result<WitVerdict, String> {
    #[cfg(feature = "panic-log")]
    install_panic_hook();
    let hook = Hook {
        method: hook.method,
        kind: match hook.kind {
            WitKind::Connect => MethodKind::Connect,
            WitKind::Direct => MethodKind::Direct,
            WitKind::Event => MethodKind::Event,
            WitKind::Incoming => MethodKind::Incoming,
        },
        app_key: hook.app_key,
        session_id: hook.session_id,
        payload: hook.payload,
        settings: hook.settings,
        received_ms: hook.received_ms,
    };
    Ok(match f(&hook)? {
        Verdict::Allow => WitVerdict::Allow,
        Verdict::Deny { status, reason } => WitVerdict::Deny(Denial { status, reason }),
        Verdict::Override(patch) => WitVerdict::Override(patch),
    })
}

/// Runs the settings validator.
pub fn validate_settings(settings: String, f: fn(&str) -> Result<(), String>) -> Result<(), String> {
    #[cfg(feature = "panic-log")]
    install_panic_hook();
    f(&settings)
}

/// Makes a panic log its message through the host before the instance traps
/// (`panic = "abort"` on wasm32-unknown-unknown ends in `unreachable`). Feature `panic-log`.
#[cfg(feature = "panic-log")]
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload_as_str().unwrap_or("(non-string panic payload)");
        let line = match info.location() {
            Some(l) => format!("policy panicked at {}:{}: {msg}", l.file(), l.line()),
            None => format!("policy panicked: {msg}"),
        };
        crate::log::error(&line);
    }));
}

// ---------------------------------------------------------------------------------------
// Global allocator.
//
// hookgate runs each hook on a fresh instance by default (pooling allocator, copy-on-write memory).
// Rust's default wasm32-unknown-unknown allocator (dlmalloc) calls `memory.grow` on its first
// allocation, which costs an mprotect per call and TLB-shootdown IPIs across cores. So the
// heap is a 1 MiB static arena in `.bss` (part of the initial memory, zero-filled, touched
// only as far as used). Only if the arena is exhausted does the source below fall back to
// `memory.grow` (as talc's `WasmGrowAndClaim`), so a huge payload slows one call down
// instead of trapping it.

const ARENA_BYTES: usize = 1 << 20;
const WASM_PAGE: usize = 65536;

/// talc memory source: the static arena first, then `memory.grow`.
#[derive(Debug)]
struct ArenaThenGrow {
    arena: Option<(*mut u8, usize)>,
}

// SAFETY: wasm32 without the atomics feature is single-threaded (talc's `new_wasm` panics
// at compile time otherwise), so the raw pointer is never shared between threads.
unsafe impl Send for ArenaThenGrow {}

// SAFETY: `acquire` only claims memory nobody else uses (the arena, owned by the allocator
// alone, or pages that `memory.grow` just added) and never calls the global allocator.
unsafe impl talc::source::Source for ArenaThenGrow {
    fn acquire<B: talc::base::binning::Binning>(
        talc: &mut talc::base::Talc<Self, B>,
        layout: core::alloc::Layout,
    ) -> Result<(), ()> {
        if let Some((base, size)) = talc.source.arena.take() {
            // SAFETY: the arena is a static array handed over exclusively to this allocator.
            if unsafe { talc.claim(base, size) }.is_some() {
                return Ok(());
            }
        }
        // Same sizing as talc's wasm sources: the request plus chunk overhead and alignment.
        let needed = layout.size() + layout.align() + 4 * 32;
        let pages = needed.div_ceil(WASM_PAGE);
        let prev = core::arch::wasm32::memory_grow::<0>(pages);
        if prev == usize::MAX {
            return Err(());
        }
        // SAFETY: the pages [prev, prev + pages) were just added to memory 0 and are unused.
        match unsafe { talc.claim((prev * WASM_PAGE) as *mut u8, pages * WASM_PAGE) } {
            Some(_) => Ok(()),
            None => Err(()),
        }
    }
}

#[global_allocator]
static ALLOCATOR: talc::cell::TalcSyncCell<ArenaThenGrow, talc::wasm::WasmBinning> = {
    static mut ARENA: [core::mem::MaybeUninit<u8>; ARENA_BYTES] = [core::mem::MaybeUninit::uninit(); ARENA_BYTES];
    talc::cell::TalcSyncCell::new_wasm(ArenaThenGrow {
        // Only the allocator ever touches ARENA.
        arena: Some(((&raw mut ARENA).cast::<u8>(), ARENA_BYTES)),
    })
};
