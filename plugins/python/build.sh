#!/usr/bin/env bash
# Builds a Python hookgate policy into a component: plugins/python/build.sh <policy-dir> <out.wasm>
# The policy folder holds app.py (class WitWorld); componentize-py (pinned by
# .ci/guest-toolchains, in target/guest-toolchains/venv) embeds CPython and snapshots it.
# --stub-wasi replaces every WASI import with a trapping stub: the component imports only
# hookgate:policy/host, which is all hookgate links.
# `hookgate build` runs this recipe from the author kit with COMPONENTIZE_PY and HOOKGATE_WIT set
# (docs/policies/outside-the-repository.md); the defaults are a hookgate checkout's.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <policy-dir> <out.wasm>" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$(cd "$1" && pwd)
out=$2
componentize_py=${COMPONENTIZE_PY:-$root/target/guest-toolchains/venv/bin/componentize-py}
[ -x "$componentize_py" ] || { echo "componentize-py not found at $componentize_py: run .ci/guest-toolchains" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
wit=${HOOKGATE_WIT:-$root/wit}
"$componentize_py" -d "$wit" -w policy componentize --stub-wasi -p "$src" app -o "$tmp"
mv "$tmp" "$out"
