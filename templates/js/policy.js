// {{name}}: allows every hook except a stream whose `name` starts with a prefix (denied 403).
// Settings: {"prefix": "test-"} (optional; the default is "test-").
// Build: hookgate build . -o {{module}}; test: hookgate test .
// A thrown string becomes the `err` of the WIT result.

export function evaluate(hook) {
  const prefix = settings(hook.settings);
  let doc;
  try {
    doc = JSON.parse(hook.payload);
  } catch {
    return { tag: "allow" };
  }
  const name = doc?.name;
  if (typeof name === "string" && name.startsWith(prefix)) {
    return { tag: "deny", val: { status: 403, reason: `stream name '${name}' is not allowed` } };
  }
  return { tag: "allow" };
}

export function validateSettings(raw) {
  settings(raw);
}

/** The prefix; throws the reason for settings the policy refuses. */
function settings(raw) {
  let doc = {};
  try {
    if (raw.trim() !== "") doc = JSON.parse(raw);
  } catch (e) {
    throw `invalid settings: ${e.message}`;
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw "invalid settings: expected a JSON object";
  for (const key of Object.keys(doc)) {
    if (key !== "prefix") throw `invalid settings: unknown field \`${key}\`, expected \`prefix\``;
  }
  const prefix = doc.prefix ?? "test-";
  if (typeof prefix !== "string" || prefix === "") throw "invalid settings: `prefix` must be a non-empty string";
  return prefix;
}
