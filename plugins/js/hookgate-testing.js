// Runs a JavaScript policy's JSON cases under Node, without wasm (like hookgate_sdk::testing).
//
//   import { runDir } from "../hookgate-testing.js";
//   import * as policy from "./policy.js";
//   runDir(policy, new URL("../../cases/stream-guard", import.meta.url));
//
// One `node:test` test per case (`node --test` in plugins/js). The case format is the SDK's
// (plugins/cases/README.md): settings go through validateSettings first, as the host does at
// load time, then evaluate gets the hook as componentize-js passes it (camelCase fields, the
// kind as its WIT name, receivedMs as a BigInt). A thrown string is the policy's `err`.

import { test } from "node:test";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { deepStrictEqual } from "node:assert/strict";

const DEFAULT_RECEIVED_MS = 1767225600000n; // 2026-01-01T00:00:00Z, as the Rust SDK

export function loadCases(dir) {
  const path = dir instanceof URL ? fileURLToPath(dir) : dir;
  const cases = [];
  for (const file of readdirSync(path).filter((f) => f.endsWith(".json")).sort()) {
    const doc = JSON.parse(readFileSync(join(path, file), "utf8"));
    (Array.isArray(doc) ? doc : [doc]).forEach((c, i) => cases.push({ ...c, origin: `${file}#${i}` }));
  }
  if (cases.length === 0) throw new Error(`no *.json case file in ${path}`);
  return cases;
}

// The kind the host gives each WCS method, alias spellings included; one not listed is an event.
// BEGIN method kinds (generated from crates/hookgate-methods: HOOKGATE_BLESS=1 cargo test -p hookgate-methods --test guest_harnesses)
const METHOD_KINDS = {
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
};
// END method kinds

function methodKind(method) {
  return Object.hasOwn(METHOD_KINDS, method) ? METHOD_KINDS[method] : "event";
}

/** Calls `f`; returns {ok: value} or {err: thrown string}. Anything else thrown is a test failure. */
function call(f) {
  try {
    return { ok: f() };
  } catch (e) {
    if (typeof e !== "string") throw new Error(`the policy threw ${e}, not a string`);
    return { err: e };
  }
}

function contains(what, text, want) {
  if (want !== undefined && !text.includes(want)) throw new Error(`${what} ${JSON.stringify(text)} does not contain ${JSON.stringify(want)}`);
}

/** Checks one case; throws what went wrong. */
export function checkCase(policy, c) {
  const expect = c.expect;
  const settings = JSON.stringify(c.settings ?? {});
  const checked = call(() => policy.validateSettings(settings));
  if (expect.verdict === "invalid-settings") {
    if (checked.err === undefined) throw new Error("expected validateSettings to refuse the settings, but it accepted them");
    return contains("settings error", checked.err, expect.reason_contains);
  }
  if (checked.err !== undefined) throw new Error(`validateSettings refused the settings: ${checked.err}`);
  const doc = c.payload ?? {};
  const hook = {
    method: c.method,
    kind: c.kind ?? methodKind(c.method),
    appKey: c.app_key ?? doc.appKey ?? "",
    sessionId: c.session_id ?? doc.sessionId ?? "",
    payload: c.payload_raw ?? JSON.stringify(doc),
    settings,
    receivedMs: BigInt(c.received_ms ?? DEFAULT_RECEIVED_MS),
  };
  const got = call(() => policy.evaluate(hook));
  if (got.err !== undefined) {
    if (expect.verdict !== "error") throw new Error(`expected ${expect.verdict}, got error ${JSON.stringify(got.err)}`);
    return contains("error", got.err, expect.reason_contains);
  }
  const verdict = got.ok;
  if (verdict.tag !== expect.verdict) throw new Error(`expected ${expect.verdict}, got ${JSON.stringify(verdict)}`);
  if (verdict.tag === "deny") {
    if (expect.status !== undefined && verdict.val.status !== expect.status) {
      throw new Error(`expected deny ${expect.status}, got deny ${verdict.val.status} (${JSON.stringify(verdict.val.reason)})`);
    }
    contains("reason", verdict.val.reason, expect.reason_contains);
  } else if (verdict.tag === "override") {
    if (expect.patch_raw !== undefined) return deepStrictEqual(verdict.val, expect.patch_raw);
    const patch = JSON.parse(verdict.val);
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) throw new Error(`override patch is not a JSON object: ${verdict.val}`);
    if (expect.patch !== undefined) deepStrictEqual(patch, expect.patch);
  }
}

/** Registers one node:test test per case of `dir`. */
export function runDir(policy, dir) {
  for (const c of loadCases(dir)) test(`${c.name} [${c.origin}]`, () => checkCase(policy, c));
}
