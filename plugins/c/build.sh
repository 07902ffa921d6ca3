#!/usr/bin/env bash
# Builds a C hookgate policy into a component: plugins/c/build.sh <policy-dir> <out.wasm>
# Every *.c of the policy folder is compiled with the C SDK (plugins/c/sdk: a JSON reader) and
# the bindings `wit-bindgen c` generates for wit/hookgate.wit (policy.h), by Debian's clang +
# lld + wasi-libc for wasm32-wasi, as a reactor with no entry point; then
# `wasm-tools component new` makes the component. The tools are pinned and installed by
# .ci/guest-toolchains (wit-bindgen and wasm-tools in target/guest-toolchains/bin).
# The core module must import nothing: wasi-libc functions that would need WASI (stdio
# output, clocks, ...) are refused here, since hookgate links only hookgate:policy/host.
# `hookgate build` runs this recipe from the author kit with WIT_BINDGEN, WASM_TOOLS, CLANG,
# WASI_SYSROOT and HOOKGATE_WIT set (docs/policies/outside-the-repository.md); the defaults are
# a hookgate checkout's and Debian's.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <policy-dir> <out.wasm>" >&2; exit 2; }
c=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$c/../.." && pwd)
src=$(cd "$1" && pwd)
out=$2
tools=${HOOKGATE_GUEST_TOOLS:-$root/target/guest-toolchains/bin}
wit_bindgen=${WIT_BINDGEN:-$tools/wit-bindgen}
wasm_tools=${WASM_TOOLS:-$tools/wasm-tools}
clang=${CLANG:-clang}
sysroot=${WASI_SYSROOT:-/usr}
wit=${HOOKGATE_WIT:-$root/wit}
for tool in "$wit_bindgen" "$wasm_tools"; do
  [ -x "$tool" ] || { echo "$tool not found: run .ci/guest-toolchains" >&2; exit 1; }
done
command -v "$clang" >/dev/null || { echo "$clang not found: run .ci/guest-toolchains" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$wit_bindgen" c "$wit" --world policy --out-dir "$work/bindings" > "$work/wit-bindgen.log" 2>&1 \
  || { cat "$work/wit-bindgen.log" >&2; exit 1; }
"$clang" --target=wasm32-wasi --sysroot="$sysroot" -O2 -std=c11 -Wall -Wextra -Werror \
  -mexec-model=reactor -nostartfiles -Wl,--no-entry -Wl,--strip-all \
  -Wl,--initial-memory=1048576 \
  -I "$c/sdk" -I "$work/bindings" \
  "$src"/*.c "$c/sdk/hookgate_json.c" "$work/bindings/policy.c" "$work/bindings/policy_component_type.o" \
  -o "$work/core.wasm"
foreign=$("$wasm_tools" print "$work/core.wasm" | grep '^ *(import ' | grep -v '(import "hookgate:policy/' || true)
if [ -n "$foreign" ]; then
  echo "the core module imports what hookgate does not link (only hookgate:policy/host):" >&2
  echo "$foreign" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
"$wasm_tools" component new "$work/core.wasm" -o "$work/component.wasm"
mv "$work/component.wasm" "$out"
