#!/usr/bin/env bash
# Writes the author kit: plugins/make-kit.sh [OUT]   (default target/kit; `make kit`)
#
# The kit is what `hookgate new` and `hookgate build` need outside a hookgate checkout
# (docs/policies/outside-the-repository.md). The Debian package and the OCI image install it as
# /usr/share/hookgate/; a source build finds it at target/kit (beside target/release). It holds:
#   VERSION                      the hookgate version it was made with
#   wit/hookgate.wit             the policy contract
#   rust/hookgate-sdk/           the Rust SDK, a standalone crate (no workspace inheritance, no
#   rust/hookgate-methods/         dev-dependencies); `hookgate new --lang rust` copies both
#   rust/Cargo.lock              the guest dependency versions of plugins/Cargo.lock
#   python/build.sh  js/build.sh  c/build.sh  c/sdk/   the build recipes and the C helper
#   templates/<lang>/ templates/common/                what `hookgate new` writes
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/kit}
rm -rf "$out"
mkdir -p "$out/rust" "$out/python" "$out/js" "$out/c"

version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
echo "$version" > "$out/VERSION"
cp -r wit "$out/wit"
cp -r templates "$out/templates"
rm "$out/templates/README.md"
for crate in hookgate-sdk hookgate-methods; do
  mkdir -p "$out/rust/$crate"
  cp -r "crates/$crate/src" "$out/rust/$crate/src"
  python3 - "crates/$crate/Cargo.toml" "$out/rust/$crate/Cargo.toml" <<'PY'
# A crate manifest made standalone: `key.workspace = true` of [package] takes the root
# workspace's value, and the [lints] and [dev-dependencies] tables (which name the workspace
# and other crates of the repository) go.
import json, re, sys, tomllib
src, dst = sys.argv[1], sys.argv[2]
shared = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]
lines, table, kept = open(src).read().splitlines(), None, []
for line in lines:
    header = re.match(r"^\[([^\]]+)\]", line)
    if header:
        table = header.group(1)
    if table in ("lints", "dev-dependencies"):
        continue
    inherited = re.match(r"^([\w-]+)\.workspace\s*=\s*true\s*$", line)
    if inherited and table == "package":
        line = f"{inherited.group(1)} = {json.dumps(shared[inherited.group(1)])}"
    kept.append(line)
text = "\n".join(kept).rstrip() + "\n"
# A comment just above a dropped table would now describe the next one: none may be left.
if "workspace" in text or "../hookgate-protocol" in text:
    sys.exit(f"{src}: the kit's manifest still names the workspace or a repository crate:\n{text}")
open(dst, "w").write(text)
PY
done
cp plugins/Cargo.lock "$out/rust/Cargo.lock"
for lang in python js c; do
  cp "plugins/$lang/build.sh" "$out/$lang/build.sh"
done
cp -r plugins/c/sdk "$out/c/sdk"
cat > "$out/README.md" <<MD
# hookgate $version: the policy author kit

What \`hookgate new\` and \`hookgate build\` use to make and build a policy in any folder
(docs/policies/outside-the-repository.md of the hookgate sources): the policy contract
(\`wit/\`), the Rust SDK (\`rust/\`), the build recipes of Python, JavaScript and C and the C
helper, and the templates. \`hookgate\` finds this folder at \$HOOKGATE_KIT, else
\`<dir of hookgate>/../share/hookgate\`, else \`<dir of hookgate>/../kit\`.
MD
echo "kit $version written to $out"
