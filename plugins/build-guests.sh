#!/usr/bin/env bash
# Builds the non-Rust guest policies from source and runs their cases, native and through hookgate:
#   plugins/build-guests.sh [python|js|c ...]          (default: all three)
#
# For each language:
#   1. builds stream-guard with plugins/<lang>/build.sh into target/guest-policies/<lang>/stream_guard.wasm,
#      skipped when the sources (policy, language SDK and build script, wit/, toolchain pins) have
#      the digest recorded next to the module;
#   2. runs the shared cases (plugins/cases/stream-guard) natively: CPython (hookgate_testing.py),
#      Node (node --test); C has no native runner;
#   3. writes target/guest-policies/<lang>/tree (one tenant per settings, plugins/cases/hookgate-tree.py)
#      and runs `hookgate test` on it: the real host, the real module;
# The templates (`hookgate new` in a folder outside the checkout, `hookgate build`, `hookgate test`,
# served) are the end-to-end test crates/hookgate-cli/tests/e2e/templates.rs (`make test`).
# `rust` (also in the default list) builds plugins/rust/stream-guard with
# `hookgate build` and runs the same host-side checks. Toolchains: .ci/guest-toolchains. The hookgate binary:
# $HOOKGATE, else ${CARGO_TARGET_DIR:-target}/release/hookgate.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/guest-policies
hookgate=${HOOKGATE:-${CARGO_TARGET_DIR:-$root/target}/release/hookgate}
[ -x "$hookgate" ] || { echo "no hookgate binary at $hookgate (cargo build --release -p hookgate-cli)" >&2; exit 1; }
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(python js c rust)
failed=0

# The digest of everything a module of <lang> is built from: <dir> plus the language's tooling.
digest() { # <lang> <dir>
  local paths=("$2" wit .ci/guest-toolchains) extra
  for extra in "plugins/$1/build.sh" "plugins/$1/sdk" "plugins/$1/package-lock.json"; do
    [ -e "$extra" ] && paths+=("$extra")
  done
  find "${paths[@]}" -type f ! -path '*/__pycache__/*' ! -path '*/tests/*' ! -name '*.test.js' ! -name '*.md' -print0 \
    | sort -z | xargs -0 sha256sum | sed "s|$root/||" | sha256sum | cut -d' ' -f1
}

build() { # <lang> <src-dir> <out.wasm>
  local want
  want=$(digest "$1" "$2")
  if [ -f "$3" ] && [ "$(cat "$3.sha256" 2>/dev/null || true)" = "$want" ]; then
    echo "   up to date: $3"
    return
  fi
  local start=$SECONDS
  "plugins/$1/build.sh" "$2" "$3"
  echo "$want" > "$3.sha256"
  echo "   built $3 ($(stat -c %s "$3") bytes) in $((SECONDS - start)) s"
}

native() { # <lang> <policy-dir> <cases-dir>
  case $1 in
    python) python3 plugins/python/hookgate_testing.py "$2" "$3" | tail -1 | sed 's/^/   native (CPython): /' ;;
    js) (cd "$(dirname "$2")" && node --test "$(basename "$2")/" 2>&1 | grep -E '^# (pass|fail)' | paste -sd' ' \
      | sed 's/^/   native (node --test): /') ;;
    c) echo "   (C has no native case runner: the cases run through hookgate only)" ;;
  esac
}

# hookgate check on one tenant whose settings the policy accepts (timed: the first compile),
# then the whole tree through hookgate test.
through_hookgate() { # <module> <cases-dir> <policy-name> <tree>
  python3 plugins/cases/hookgate-tree.py --hookgate "$hookgate" --cases "$2" --module "$1" --policy "$3" --out "$4" \
    > "$4.log" 2>&1 || { cat "$4.log"; return 1; }
  grep -E 'passed, [0-9]+ failed' "$4.log" | sed 's/^/   hookgate test: /'
  local tenant start
  tenant=$(dirname "$(grep -L 'must refuse these settings' "$4"/*/tenant.toml | head -1)")
  rm -rf "$4.check"
  mkdir "$4.check"
  cp -rl "$tenant" "$4.check/"
  start=$(date +%s%N)
  "$hookgate" check "$4.check" > "$4.check.log" 2>&1 || { cat "$4.check.log"; return 1; }
  echo "   hookgate check (tenant $(basename "$tenant")): ok in $(( ($(date +%s%N) - start) / 1000000 )) ms"
}

for lang in "${langs[@]}"; do
  echo "== $lang"
  case $lang in python | js | c | rust) ;; *) echo "unknown language '$lang' (python, js, c, rust)" >&2; exit 2 ;; esac
  src=plugins/$lang/stream-guard
  module=$out/$lang/stream_guard.wasm
  echo "-- stream-guard"
  if [ "$lang" = rust ]; then
    # Built by `hookgate build` (cargo decides what to rebuild); its native cases run in `make test`.
    "$hookgate" build "$src" -o "$module" --target-dir "$root/target/wasm" >/dev/null
  else
    build "$lang" "$src" "$module"
    native "$lang" "$src" plugins/cases/stream-guard || failed=1
  fi
  through_hookgate "$module" plugins/cases/stream-guard stream-guard "$out/$lang/tree" || failed=1
done
[ $failed -eq 0 ] || { echo "guest policies: FAILED" >&2; exit 1; }
echo "guest policies: all cases passed"
