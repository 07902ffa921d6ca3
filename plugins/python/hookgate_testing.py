"""Runs a Python policy's JSON cases under plain CPython, without wasm (like hookgate_sdk::testing).

    python3 plugins/python/hookgate_testing.py <policy-dir> <cases-dir>

The policy's app.py is imported as is. Its `wit_world` bindings are the ones componentize-py
generates (`componentize-py bindings`, written to target/guest-toolchains/python-bindings by
this script), so the verdict classes are the real ones. The case format is the SDK's
(plugins/cases/README.md): settings go through validate_settings first, as the host does at
load time, then evaluate gets a Hook built from the case.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = ROOT / "target" / "guest-toolchains" / "python-bindings"
COMPONENTIZE_PY = ROOT / "target" / "guest-toolchains" / "venv" / "bin" / "componentize-py"
DEFAULT_RECEIVED_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, as the Rust SDK
KINDS = {"connect": "CONNECT", "direct": "DIRECT", "event": "EVENT", "incoming": "INCOMING"}


def bindings() -> None:
    """Generates the wit_world package (again when the WIT is newer), then puts it on sys.path."""
    generated = BINDINGS / "wit_world" / "__init__.py"
    wit = ROOT / "wit" / "hookgate.wit"
    if not generated.is_file() or generated.stat().st_mtime < wit.stat().st_mtime:
        shutil.rmtree(BINDINGS, ignore_errors=True)  # componentize-py refuses an existing folder
        subprocess.run([str(COMPONENTIZE_PY), "-d", str(ROOT / "wit"), "-w", "policy", "bindings", str(BINDINGS)],
                       check=True)
    sys.path.insert(0, str(BINDINGS))


def load_cases(directory: Path) -> list[dict]:
    cases = []
    for file in sorted(directory.glob("*.json")):
        doc = json.loads(file.read_text())
        for i, case in enumerate(doc if isinstance(doc, list) else [doc]):
            case["origin"] = f"{file.name}#{i}"
            cases.append(case)
    return cases


# The kind the host gives each WCS method, alias spellings included; one not listed is an event.
# BEGIN method kinds (generated from crates/hookgate-methods: HOOKGATE_BLESS=1 cargo test -p hookgate-methods --test guest_harnesses)
METHOD_KINDS = {
    "connect": "connect",
    "publishStream": "direct",
    "playStream": "direct",
    "unPublishStream": "direct",
    "stopStream": "direct",
    "pauseStream": "direct",
    "snapshot": "direct",
    "sendStreamEvent": "direct",
    "call": "direct",
    "answer": "direct",
    "hangup": "direct",
    "hold": "direct",
    "unhold": "direct",
    "transfer": "direct",
    "sendDtmf": "direct",
    "sendDTMF": "direct",
    "sendMessage": "direct",
    "sendIMDN": "direct",
    "OnDataEvent": "direct",
    "submitBugReport": "direct",
    "sendBugReport": "direct",
    "pushLogs": "direct",
    "sessionDebug": "direct",
    "subscribe": "direct",
    "sendXcapRequest": "direct",
    "playHLS": "direct",
    "playRTSP": "direct",
    "OnCallEvent": "incoming",
    "ConnectionStatusEvent": "event",
    "RegistrationStatusEvent": "event",
    "StreamStatusEvent": "event",
    "StreamKeepAliveEvent": "event",
    "StreamEvent": "event",
    "CallStatusEvent": "event",
    "TransferStatusEvent": "event",
    "OnTransferEvent": "event",
    "OnMessageEvent": "event",
    "MessageStatusEvent": "event",
    "DataStatusEvent": "event",
    "BugReportStatusEvent": "event",
    "SessionDebugStatusEvent": "event",
    "SubscriptionStatusEvent": "event",
    "XcapStatusEvent": "event",
    "ErrorEvent": "event",
    "ErrorStatusEvent": "event",
    "RecordingStatusEvent": "event",
}
# END method kinds


def method_kind(method: str) -> str:
    return METHOD_KINDS.get(method, "event")


def check_case(policy, case: dict) -> str | None:
    """None when the case passes, else what went wrong."""
    from componentize_py_types import Err
    from wit_world.imports import types

    expect = case["expect"]
    want = expect["verdict"]
    settings = json.dumps(case.get("settings", {}), ensure_ascii=False)
    try:
        policy.validate_settings(settings)
    except Err as e:
        if want != "invalid-settings":
            return f"validate-settings refused the settings: {e.value}"
        return contains("settings error", e.value, expect.get("reason_contains"))
    if want == "invalid-settings":
        return "expected validate-settings to refuse the settings, but it accepted them"

    payload = case["payload_raw"] if "payload_raw" in case else json.dumps(case.get("payload", {}), ensure_ascii=False)
    doc = case.get("payload", {})
    hook = types.Hook(
        method=case["method"],
        kind=types.MethodKind[KINDS[case.get("kind", method_kind(case["method"]))]],
        app_key=case.get("app_key", doc.get("appKey", "")),
        session_id=case.get("session_id", doc.get("sessionId", "")),
        payload=payload,
        settings=settings,
        received_ms=case.get("received_ms", DEFAULT_RECEIVED_MS),
    )
    try:
        got = policy.evaluate(hook)
    except Err as e:
        if want == "error":
            return contains("error", e.value, expect.get("reason_contains"))
        return f"expected {want}, got error {e.value!r}"
    if isinstance(got, types.Verdict_Allow) and want == "allow":
        return None
    if isinstance(got, types.Verdict_Deny) and want == "deny":
        if "status" in expect and got.value.status != expect["status"]:
            return f"expected deny {expect['status']}, got deny {got.value.status} ({got.value.reason!r})"
        return contains("reason", got.value.reason, expect.get("reason_contains"))
    if isinstance(got, types.Verdict_Override) and want == "override":
        if "patch_raw" in expect:
            return None if got.value == expect["patch_raw"] else f"expected patch text {expect['patch_raw']!r}, got {got.value!r}"
        patch = json.loads(got.value)
        if not isinstance(patch, dict):
            return f"override patch is not a JSON object: {got.value}"
        if "patch" in expect and patch != expect["patch"]:
            return f"expected patch {json.dumps(expect['patch'])}, got {got.value}"
        return None
    return f"expected {want}, got {got}"


def contains(what: str, text: str, want: str | None) -> str | None:
    return f"{what} {text!r} does not contain {want!r}" if want is not None and want not in text else None


def run_dir(policy_dir: Path, cases_dir: Path) -> int:
    bindings()
    sys.path.insert(0, str(policy_dir))
    import app

    policy = app.WitWorld()
    cases = load_cases(cases_dir)
    if not cases:
        print(f"no *.json case file in {cases_dir}")
        return 1
    failed = 0
    for case in cases:
        problem = check_case(policy, case)
        if problem:
            failed += 1
            print(f"FAIL  {case['name']} [{case['origin']}]: {problem}")
        else:
            print(f"ok    {case['name']} [{case['origin']}]")
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} <policy-dir> <cases-dir>")
    sys.exit(run_dir(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()))
