#!/usr/bin/env bash
# Measures the stream-guard builds of every guest language (run plugins/build-guests.sh first):
#   plugins/measure-guests.sh [rust python js c ...]      (TASKS=1 for one evaluating task)
# For each module: size, imports, shape (core modules, core instances, largest funcref table,
# largest initial memory), compile time (a first `hookgate check` of a one-tenant tree; the
# host keeps no compile cache on disk, so every check compiles), and evaluations per second
# with a fresh instance per evaluation (crates/hookgate-runtime/examples/evalbench, $TASKS tasks,
# tests/payloads/publishStream.json, settings {"deny":["forbidden_*"]}).
# Prints a Markdown table (also written to target/guest-policies/measurements.md).
# The Rust module is built here with `hookgate build` (target/guest-policies/rust/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/guest-policies
hookgate=${HOOKGATE:-${CARGO_TARGET_DIR:-$root/target}/release/hookgate}
wasm_tools=$root/target/guest-toolchains/bin/wasm-tools
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(rust python js c)
settings='{"deny":["forbidden_*"]}'
tasks=${TASKS:-2}

cargo build --release --quiet -p hookgate-runtime --example evalbench
evalbench=${CARGO_TARGET_DIR:-$root/target}/release/examples/evalbench

table=$out/measurements.md
{
  echo "| guest | module bytes | imports | core modules / instances | largest funcref table | largest initial memory | compile (hookgate check) | fresh evaluations/s ($tasks tasks) | µs wall / evaluation |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$table"

for lang in "${langs[@]}"; do
  module=$out/$lang/stream_guard.wasm
  if [ "$lang" = rust ]; then
    "$hookgate" build plugins/rust/stream-guard -o "$module" --target-dir "$root/target/wasm" >/dev/null
  fi
  [ -f "$module" ] || { echo "no $module: run plugins/build-guests.sh $lang" >&2; exit 1; }
  size=$(stat -c %s "$module")
  imports=$("$wasm_tools" component wit "$module" | sed -n 's/^ *import \([^;]*\);/\1/p' | paste -sd' ')
  skeleton=$("$wasm_tools" print --skeleton "$module")
  modules=$(grep -c '(core module' <<< "$skeleton" || true)
  instances=$(grep -c '(core instance' <<< "$skeleton" || true)
  funcrefs=$(grep -oE '\(table \(;[0-9]+;\) [0-9]+' <<< "$skeleton" | awk '{print $3}' | sort -n | tail -1)
  pages=$(grep -oE '\(memory \(;[0-9]+;\) [0-9]+' <<< "$skeleton" | awk '{print $3}' | sort -n | tail -1)

  tree=$out/$lang/measure-tree
  rm -rf "$tree"
  mkdir -p "$tree/t"
  ln "$module" "$tree/t/stream_guard.wasm"
  printf '%s\n' 'version = 1' '[policies.stream-guard]' 'module = "stream_guard.wasm"' \
    'settings = { deny = ["forbidden_*"] }' '[methods.publishStream]' 'chain = ["stream-guard"]' > "$tree/t/tenant.toml"
  start=$(date +%s%N)
  "$hookgate" check "$tree" >/dev/null
  compile_ms=$(( ($(date +%s%N) - start) / 1000000 ))

  # evalbench stops at the first failed evaluation (its deadline is 50 ms): report it.
  if bench=$("$evalbench" "$module" tests/payloads/publishStream.json "$tasks" "$settings" 2>&1 | tail -1) \
    && [[ $bench =~ :\ ([0-9]+)\ evaluations/s,\ ([0-9.]+)\ µs ]]; then
    rate=${BASH_REMATCH[1]}
    wall=${BASH_REMATCH[2]}
  else
    rate="failed: ${bench//|/\\|}"
    wall=-
  fi
  echo "| $lang | $size | $imports | ${modules:-0} / ${instances:-0} | ${funcrefs:--} | ${pages:-0} pages | $compile_ms ms | $rate | $wall |" >> "$table"
done
cat "$table"
