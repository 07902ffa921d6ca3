#!/usr/bin/env python3
"""Runs a policy's JSON cases (the SDK format, plugins/cases/README.md) through the real host.

    hookgate-tree.py --hookgate BIN --cases DIR --module X.wasm --policy NAME --out TREE
    hookgate-tree.py --write-only --cases DIR --module X.wasm --policy NAME --out TREE [--timeout-ms N]

The cases give a verdict per settings; `hookgate test` checks answers of tenants. So this
writes a policy tree to TREE with one tenant per distinct settings (`s01`, `s02`, ...): its
tenant.toml runs the policy NAME (a hard link of the module) with those settings on every
method its cases use (`on_error = "FAIL"`, `overwrite` = the fields the cases' patches set),
and its tests/cases.json holds the cases as answers:

* allow            -> 200, the received bytes echoed
* deny             -> the status, body {"policy": NAME, "error": reason_contains}
                      (so a deny's reason_contains must be the whole reason)
* override         -> 200, the body holds every field of the patch (null: the field is absent)
* error            -> 403 (the FAIL fallback), body {"policy": NAME}
* invalid-settings -> 403 (the policy is not loaded), and the load warning that hookgate
                      prints must contain reason_contains

Each payload gets `"appKey": "<tenant>"` (JSON payloads: set; raw payloads: inserted after
the opening brace) so that the tree routes it to its tenant. Then it runs `hookgate test TREE`
once (one process: the module is compiled once) and checks the load warnings.
Afterwards `hookgate test TREE` can be run by hand. With --write-only it only writes the tree
(the end-to-end tests serve it and post its cases over HTTP); --timeout-ms sets each tenant's
[limits] timeout_ms.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

UNSUPPORTED = ("kind", "app_key", "session_id")


def load_cases(directory: Path) -> list[dict]:
    cases = []
    for file in sorted(directory.glob("*.json")):
        doc = json.loads(file.read_text())
        for i, case in enumerate(doc if isinstance(doc, list) else [doc]):
            case["_origin"] = f"{file.name}#{i}"
            cases.append(case)
    if not cases:
        sys.exit(f"no *.json case file in {directory}")
    return cases


def tenant_case(case: dict, tenant: str, policy: str) -> dict:
    where = f"{case['_origin']} ({case['name']})"
    for field in UNSUPPORTED:
        if field in case:
            sys.exit(f"{where}: `{field}` cannot be expressed as a tenant case")
    expect = case["expect"]
    if expect.get("logs_contain") or "patch_raw" in expect:
        sys.exit(f"{where}: logs_contain / patch_raw cannot be checked through hookgate test")
    if "payload_raw" in case:
        raw = case["payload_raw"]
        brace = raw.index("{")
        body = f'{raw[: brace + 1]}"appKey":{json.dumps(tenant)},{raw[brace + 1:]}'
    else:
        payload = dict(case.get("payload", {}))
        payload["appKey"] = tenant
        body = json.dumps(payload, ensure_ascii=False)
    verdict = expect["verdict"]
    if verdict == "allow":
        answer = {"status": 200, "echo": True}
    elif verdict == "deny":
        want = {"policy": policy}
        if "reason_contains" in expect:
            want["error"] = expect["reason_contains"]
        answer = {"status": expect.get("status", 403), "body": want}
    elif verdict == "override":
        patch = expect.get("patch", {})
        answer = {
            "status": 200,
            "body": {k: v for k, v in patch.items() if v is not None},
            "absent": [k for k, v in patch.items() if v is None],
        }
    elif verdict in ("error", "invalid-settings"):
        answer = {"status": 403, "body": {"policy": policy}}
    else:
        sys.exit(f"{where}: unknown verdict {verdict!r}")
    out = {"name": f"{case['name']} [{case['_origin']}]", "method": case["method"], "payload_raw": body, "expect": answer}
    if "received_ms" in case:
        out["received_ms"] = case["received_ms"]
    return out


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def write_tree(
    cases: list[dict], module: Path, policy: str, out: Path, timeout_ms: int | None = None
) -> list[tuple[str, str, str]]:
    """Writes the tree; returns the expected load warnings (tenant, case, substring)."""
    if out.exists():
        shutil.rmtree(out)
    groups: dict[str, list[dict]] = {}
    for case in cases:
        if not isinstance(case.get("settings", {}), dict):
            sys.exit(f"{case['_origin']} ({case['name']}): tenant.toml settings can only be an object")
        key = json.dumps(case.get("settings", {}), sort_keys=True, ensure_ascii=False)
        groups.setdefault(key, []).append(case)
    warnings = []
    file = module.name
    for n, (settings, group) in enumerate(groups.items(), start=1):
        tenant = f"s{n:02d}"
        folder = out / tenant
        (folder / "tests").mkdir(parents=True)
        os.link(module, folder / file)
        methods: dict[str, set[str]] = {}
        for case in group:
            fields = methods.setdefault(case["method"], set())
            fields.update(case["expect"].get("patch", {}).keys())
            if case["expect"]["verdict"] == "invalid-settings":
                warnings.append((tenant, case["name"], case["expect"].get("reason_contains", "")))
        refused = any(case["expect"]["verdict"] == "invalid-settings" for case in group)
        lines = [
            f"# Generated by plugins/cases/hookgate-tree.py from {len(group)} case(s) with these settings.",
            *(["# The policy must refuse these settings: the tenant serves without it."] if refused else []),
            "version = 1",
            *(["", "[limits]", f"timeout_ms = {timeout_ms}"] if timeout_ms else []),
            "",
            f"[policies.{policy}]",
            f"module = {toml_str(file)}",
            f"settings = {toml_settings(json.loads(settings))}",
        ]
        for method, fields in sorted(methods.items()):
            lines += ["", f"[methods.{method}]", f'chain = ["{policy}"]', 'on_error = "FAIL"']
            if fields:
                lines.append("overwrite = [" + ", ".join(toml_str(f) for f in sorted(fields)) + "]")
        (folder / "tenant.toml").write_text("\n".join(lines) + "\n")
        tests = [tenant_case(case, tenant, policy) for case in group]
        (folder / "tests" / "cases.json").write_text(json.dumps(tests, indent=2, ensure_ascii=False) + "\n")
    return warnings


def toml_settings(value) -> str:
    """A JSON value as a TOML inline value (settings are JSON objects of strings, numbers, lists)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_str(k)} = {toml_settings(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_settings(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return toml_str(value)
    sys.exit(f"settings value {value!r} has no TOML form")


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--hookgate", type=Path, help="required unless --write-only")
    args.add_argument("--write-only", action="store_true", help="write the tree, do not run hookgate test")
    args.add_argument("--timeout-ms", type=int, help="[limits] timeout_ms of every tenant")
    args.add_argument("--cases", required=True, type=Path)
    args.add_argument("--module", required=True, type=Path)
    args.add_argument("--policy", required=True)
    args.add_argument("--out", required=True, type=Path)
    a = args.parse_args()
    warnings = write_tree(load_cases(a.cases), a.module, a.policy, a.out, a.timeout_ms)
    if a.write_only:
        return 0
    if a.hookgate is None:
        args.error("--hookgate is required unless --write-only")
    run = subprocess.run([str(a.hookgate), "test", str(a.out)], capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    stderr = run.stderr.splitlines()
    passed, failed = 0, 0
    for tenant, name, want in warnings:
        lines = [line for line in stderr if f"{os.sep}{tenant}{os.sep}" in line]
        if any("settings refused by the policy" in line and want in line for line in lines):
            passed += 1
        else:
            failed += 1
            print(f"FAIL  {tenant}: {name}\n      no load warning contains {want!r}; got {lines}")
    expected = {tenant for tenant, _, _ in warnings}
    for line in stderr:
        if line.startswith("warning:") and not any(f"{os.sep}{t}{os.sep}" in line for t in expected):
            failed += 1
            print(f"FAIL  unexpected load warning: {line}")
    print(f"load warnings: {passed} passed, {failed} failed")
    return 1 if run.returncode != 0 or failed else 0


if __name__ == "__main__":
    sys.exit(main())
