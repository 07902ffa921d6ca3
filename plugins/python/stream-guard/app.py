"""stream-guard in Python: the same policy as plugins/rust/stream-guard (see plugins/README.md).

Settings: {"deny": ["forbidden_*", "test-??"], "normalize": "lowercase" | "none", "status": 403}
(all optional). A name matching a deny glob is denied with `status` and the reason
"stream name '<name>' is forbidden" (with `lowercase`, the lowercased name is matched too);
otherwise, with `lowercase`, a name with uppercase characters is overridden with its lowercase.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import Denial, Hook, Verdict, Verdict_Allow, Verdict_Deny, Verdict_Override

MAX_PATTERNS = 1000
MAX_PATTERN_LEN = 256  # bytes of UTF-8
MAX_DEPTH = 128  # nesting of arrays and objects, as the Rust SDK's scanner
KEYS = ("deny", "normalize", "status")


class WitWorld(wit_world.WitWorld):
    def evaluate(self, hook: Hook) -> Verdict:
        deny, normalize, status = settings(hook.settings)
        name = str_field(hook.payload, "name")
        if name is None:
            return Verdict_Allow()
        lower = name.lower() if normalize == "lowercase" and any(c.isupper() for c in name) else None
        if any(glob_match(p, name) or (lower is not None and glob_match(p, lower)) for p in deny):
            return Verdict_Deny(Denial(status, f"stream name '{name}' is forbidden"))
        if lower is not None and lower != name:
            return Verdict_Override(json.dumps({"name": lower}, ensure_ascii=False, separators=(",", ":")))
        return Verdict_Allow()

    def validate_settings(self, settings_json: str) -> None:
        settings(settings_json)


def settings(raw: str) -> tuple[list[str], str, int]:
    """The checked settings (deny, normalize, status); raises Err(reason) like the Rust policy."""

    def fail(why: str):
        raise Err(f"invalid settings: {why}")

    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        fail(str(e))
    if not isinstance(doc, dict):
        fail(f"invalid type: {json.dumps(doc)}, expected struct Settings")
    for key in doc:
        if key not in KEYS:
            fail(f"unknown field `{key}`, expected one of `deny`, `normalize`, `status`")
    deny = doc.get("deny", [])
    if not isinstance(deny, list) or not all(isinstance(p, str) for p in deny):
        fail(f"invalid type: {json.dumps(deny)}, expected a sequence of strings")
    normalize = doc.get("normalize", "lowercase")
    if normalize not in ("lowercase", "none"):
        fail(f"unknown variant `{normalize}`, expected `lowercase` or `none`")
    status = doc.get("status", 403)
    if not isinstance(status, int) or isinstance(status, bool):
        fail(f"invalid type: {json.dumps(status)}, expected u16")
    if not 0 <= status <= 65535:
        fail(f"invalid value: integer `{status}`, expected u16")
    if not 400 <= status <= 599:
        fail(f"`status` is {status} (expected 400..=599)")
    if len(deny) > MAX_PATTERNS:
        fail(f"{len(deny)} deny patterns (at most {MAX_PATTERNS})")
    for p in deny:
        problem = pattern_problem(p)
        if problem:
            fail(f"deny pattern {json.dumps(p, ensure_ascii=False)}: {problem}")
    return deny, normalize, status


def pattern_problem(p: str) -> str | None:
    if not p:
        return "empty pattern"
    if len(p.encode()) > MAX_PATTERN_LEN:
        return f"longer than {MAX_PATTERN_LEN} bytes"
    for c in p:
        if c in "[]{}\\":
            return f"unsupported glob syntax '{c}' (only * and ? are special)"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in p):
        return "control character"
    return None


def str_field(payload: str, key: str) -> str | None:
    """The top-level string field `key`; None if absent, not a string, or the payload is not JSON
    (as for the Rust SDK, that includes nesting deeper than MAX_DEPTH)."""
    # The interpreter is slow at the character loop: run it only when the depth is possible.
    if payload.count("[") + payload.count("{") > MAX_DEPTH and too_deep(payload):
        return None
    try:
        doc = json.loads(payload, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return None
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, str) or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return None  # lone surrogates cannot cross the component boundary
    return value


def too_deep(text: str) -> bool:
    """Whether arrays/objects nest deeper than MAX_DEPTH (brackets inside strings do not count)."""
    depth, in_string, escaped = 0, False, False
    for c in text:
        if in_string:
            in_string = escaped or c != '"'
            escaped = not escaped and c == "\\"
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif c in "]}":
            depth -= 1
    return False


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters (also none), `?` exactly one; backtracks only to the last `*`."""
    pi = ti = 0
    star = None  # (pattern index after '*', text index)
    while ti < len(text):
        if pi < len(pattern) and pattern[pi] in ("?", text[ti]):
            pi, ti = pi + 1, ti + 1
        elif pi < len(pattern) and pattern[pi] == "*":
            star = (pi + 1, ti)
            pi += 1
        elif star is not None:
            pi, ti = star[0], star[1] + 1
            star = (star[0], ti)
        else:
            return False
    return all(c == "*" for c in pattern[pi:])
