"""{{name}}: allows every hook except a stream whose `name` starts with a prefix (denied 403).

Settings: {"prefix": "test-"} (optional; the default is "test-").
Build: hookgate build . -o {{module}}; test: hookgate test .
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import Denial, Hook, Verdict, Verdict_Allow, Verdict_Deny


class WitWorld(wit_world.WitWorld):
    def evaluate(self, hook: Hook) -> Verdict:
        prefix = settings(hook.settings)
        try:
            doc = json.loads(hook.payload)
        except ValueError:
            return Verdict_Allow()
        name = doc.get("name") if isinstance(doc, dict) else None
        if isinstance(name, str) and name.startswith(prefix):
            return Verdict_Deny(Denial(403, f"stream name '{name}' is not allowed"))
        return Verdict_Allow()

    def validate_settings(self, settings_json: str) -> None:
        settings(settings_json)


def settings(raw: str) -> str:
    """The prefix; raises Err(reason) for settings the policy refuses."""
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise Err(f"invalid settings: {e}")
    if not isinstance(doc, dict):
        raise Err("invalid settings: expected a JSON object")
    for key in doc:
        if key != "prefix":
            raise Err(f"invalid settings: unknown field `{key}`, expected `prefix`")
    prefix = doc.get("prefix", "test-")
    if not isinstance(prefix, str) or not prefix:
        raise Err("invalid settings: `prefix` must be a non-empty string")
    return prefix
