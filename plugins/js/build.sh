#!/usr/bin/env bash
# Builds a JavaScript hookgate policy into a component: plugins/js/build.sh <policy-dir> <out.wasm>
# The policy folder holds policy.js (an ES module exporting evaluate and validateSettings).
# componentize-js (StarlingMonkey/SpiderMonkey, pinned in plugins/js/package-lock.json,
# installed by .ci/guest-toolchains) embeds the engine and snapshots the module with Wizer.
# `-d stdio random clocks http fetch-event` leaves the component with no WASI import: it imports
# only hookgate:policy/host, which is all hookgate links.
# `hookgate build` runs this recipe from the author kit with COMPONENTIZE_JS and HOOKGATE_WIT set
# (docs/policies/outside-the-repository.md); the defaults are a hookgate checkout's.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <policy-dir> <out.wasm>" >&2; exit 2; }
js=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$js/../.." && pwd)
src=$(cd "$1" && pwd)
out=$2
componentize_js=${COMPONENTIZE_JS:-$js/node_modules/.bin/componentize-js}
wit=${HOOKGATE_WIT:-$root/wit}
[ -x "$componentize_js" ] || { echo "componentize-js not found at $componentize_js: run .ci/guest-toolchains" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# componentize-js resolves the WIT path from the working directory.
(cd "$(dirname "$wit")" && "$componentize_js" "$src/policy.js" --wit "$(basename "$wit")" --world-name policy \
  -d stdio random clocks http fetch-event -o "$tmp")
mv "$tmp" "$out"
