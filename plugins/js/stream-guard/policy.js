// stream-guard in JavaScript: the same policy as plugins/rust/stream-guard (see plugins/README.md).
//
// Settings: {"deny": ["forbidden_*", "test-??"], "normalize": "lowercase" | "none", "status": 403}
// (all optional). A name matching a deny glob is denied with `status` and the reason
// "stream name '<name>' is forbidden" (with `lowercase`, the lowercased name is matched too);
// otherwise, with `lowercase`, a name with uppercase characters is overridden with its lowercase.
//
// A thrown string becomes the `err` of the WIT result.

const MAX_PATTERNS = 1000;
const MAX_PATTERN_LEN = 256; // bytes of UTF-8
const MAX_DEPTH = 128; // nesting of arrays and objects, as the Rust SDK's scanner
const KEYS = ["deny", "normalize", "status"];

/** Decides one hook: `{tag: "allow"}`, `{tag: "deny", val: {status, reason}}` or `{tag: "override", val: patch}`. */
export function evaluate(hook) {
  // The hot path calls no self-hosted builtin (iterators, spread, some/every/map): in this
  // interpreter each such call costs microseconds, where indexed loops and native string methods
  // (indexOf, codePointAt, toLowerCase, JSON.parse) cost next to nothing.
  const { patterns, normalize, status } = cachedSettings(hook.settings);
  const name = strField(hook.payload, "name");
  if (name === undefined) return { tag: "allow" };
  // A name its own lowercase has no uppercase character: the per-character test is for the rest.
  const lower =
    normalize === "lowercase" && name.toLowerCase() !== name && [...name].some(isUppercase) ? lowercase(name) : undefined;
  const chars = codePoints(name);
  const lowerChars = lower === undefined ? undefined : codePoints(lower);
  for (let i = 0; i < patterns.length; i++) {
    if (globMatch(patterns[i], chars) || (lowerChars !== undefined && globMatch(patterns[i], lowerChars))) {
      return { tag: "deny", val: { status, reason: `stream name '${name}' is forbidden` } };
    }
  }
  if (lower !== undefined && lower !== name) return { tag: "override", val: JSON.stringify({ name: lower }) };
  return { tag: "allow" };
}

/** Checks the settings at load time (throws the reason). */
export function validateSettings(raw) {
  cachedSettings(raw);
}

// The settings of the last call that accepted them. A reused instance (`reuse = true`) gets the
// same settings string at every hook, and parsing and checking them again cost more than the rule.
// Only settings that passed are kept, so a refusal is computed (and thrown) every time.
let lastRaw;
let lastSettings;

function cachedSettings(raw) {
  if (raw !== lastRaw) {
    lastSettings = settings(raw);
    lastRaw = raw;
  }
  return lastSettings;
}

function settings(raw) {
  const fail = (why) => {
    throw `invalid settings: ${why}`;
  };
  let doc = {};
  if (raw.trim() !== "") {
    try {
      doc = JSON.parse(raw);
    } catch (e) {
      fail(e.message);
    }
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    fail(`invalid type: ${JSON.stringify(doc)}, expected struct Settings`);
  }
  for (const key of Object.keys(doc)) {
    if (!KEYS.includes(key)) fail(`unknown field \`${key}\`, expected one of \`deny\`, \`normalize\`, \`status\``);
  }
  const { deny = [], normalize = "lowercase", status = 403 } = doc;
  if (!Array.isArray(deny) || !deny.every((p) => typeof p === "string")) {
    fail(`invalid type: ${JSON.stringify(deny)}, expected a sequence of strings`);
  }
  if (normalize !== "lowercase" && normalize !== "none") {
    fail(`unknown variant \`${normalize}\`, expected \`lowercase\` or \`none\``);
  }
  if (!Number.isInteger(status)) fail(`invalid type: ${JSON.stringify(status)}, expected u16`);
  if (status < 0 || status > 65535) fail(`invalid value: integer \`${status}\`, expected u16`);
  if (status < 400 || status > 599) fail(`\`status\` is ${status} (expected 400..=599)`);
  if (deny.length > MAX_PATTERNS) fail(`${deny.length} deny patterns (at most ${MAX_PATTERNS})`);
  for (const p of deny) {
    const problem = patternProblem(p);
    if (problem) fail(`deny pattern ${JSON.stringify(p)}: ${problem}`);
  }
  // Each pattern as code points (not UTF-16 units), the form globMatch walks.
  return { patterns: deny.map((p) => [...p]), normalize, status };
}

function patternProblem(p) {
  if (p === "") return "empty pattern";
  if (utf8Length(p) > MAX_PATTERN_LEN) return `longer than ${MAX_PATTERN_LEN} bytes`;
  const bad = [...p].find((c) => "[]{}\\".includes(c));
  if (bad) return `unsupported glob syntax '${bad}' (only * and ? are special)`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(p)) return "control character";
  return undefined;
}

// componentize-js's SpiderMonkey has no Unicode property escapes (\p{Uppercase}): an uppercase
// character is one that lowercases to something else and is its own uppercase.
function isUppercase(c) {
  return c.toLowerCase() !== c && c.toUpperCase() === c;
}

function isCased(c) {
  return c !== undefined && (c.toLowerCase() !== c || c.toUpperCase() !== c);
}

// Its toLowerCase also lacks the final-sigma rule that Rust's to_lowercase applies: a Σ after a
// cased character and not before one becomes ς (judged on the neighbours, as the C policy does).
function lowercase(name) {
  const cps = [...name];
  return cps.map((c, i) => (c === "Σ" && isCased(cps[i - 1]) && !isCased(cps[i + 1]) ? "ς" : c.toLowerCase())).join("");
}

function utf8Length(s) {
  let n = 0;
  for (const c of s) {
    const cp = c.codePointAt(0);
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * The top-level string field `key`; undefined if absent, not a string, or the payload is not JSON
 * (as for the Rust SDK, that includes nesting deeper than MAX_DEPTH).
 */
function strField(payload, key) {
  // The interpreter is slow at the character loop: run it only when the depth is possible.
  if (bracketsExceed(payload, MAX_DEPTH) && tooDeep(payload)) return undefined;
  let doc;
  try {
    doc = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const value = doc !== null && typeof doc === "object" && !Array.isArray(doc) ? doc[key] : undefined;
  // Lone surrogates cannot cross the component boundary.
  return typeof value === "string" && value.isWellFormed() ? value : undefined;
}

/** Whether `text` holds more than `limit` opening brackets (`[` and `{`), counted with indexOf. */
function bracketsExceed(text, limit) {
  let n = 0;
  for (let i = text.indexOf("["); i !== -1; i = text.indexOf("[", i + 1)) {
    if (++n > limit) return true;
  }
  for (let i = text.indexOf("{"); i !== -1; i = text.indexOf("{", i + 1)) {
    if (++n > limit) return true;
  }
  return false;
}

/** The code points of `s` as one-character strings, as `[...s]` gives them (an indexed loop). */
function codePoints(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    if (s.codePointAt(i) > 0xffff) {
      out.push(s.slice(i, i + 2));
      i++;
    } else {
      out.push(s[i]);
    }
  }
  return out;
}

/** Whether arrays/objects nest deeper than MAX_DEPTH (brackets inside strings do not count). */
function tooDeep(text) {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const c of text) {
    if (inString) {
      inString = escaped || c !== '"';
      escaped = !escaped && c === "\\";
    } else if (c === '"') {
      inString = true;
    } else if (c === "[" || c === "{") {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === "]" || c === "}") {
      depth--;
    }
  }
  return false;
}

/** `*` matches any run of characters (also none), `?` exactly one; backtracks only to the last `*`. */
function globMatch(p, t) {
  // p and t are arrays of code points, not UTF-16 units.
  let pi = 0;
  let ti = 0;
  let starPi = -1; // pattern index after the last '*' (-1: none yet)
  let starTi = 0; // the text index that '*' is matched up to
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === "?" || p[pi] === t[ti])) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === "*") {
      starPi = pi + 1;
      starTi = ti;
      pi++;
    } else if (starPi !== -1) {
      pi = starPi;
      ti = ++starTi;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}
