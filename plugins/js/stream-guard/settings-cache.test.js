// policy.js keeps the last accepted settings parsed (for reused instances): these check that a
// change of settings between hooks takes effect and that a refusal is never cached.
import { test } from "node:test";
import { deepStrictEqual, throws } from "node:assert/strict";
import * as policy from "./policy.js";

const payload = JSON.stringify({ name: "forbidden_cam" });
const hook = (settings) => ({ method: "publishStream", kind: "direct", appKey: "", sessionId: "", payload, settings, receivedMs: 0n });
const deny = { tag: "deny", val: { status: 403, reason: "stream name 'forbidden_cam' is forbidden" } };
const strict = JSON.stringify({ deny: ["forbidden_*"] });
const open = JSON.stringify({ deny: [] });
const refused = JSON.stringify({ deny: ["cam[0-9]"] });
const refusal = /^invalid settings: deny pattern "cam\[0-9\]": unsupported glob syntax '\['/;

test("settings that change between hooks take effect at once", () => {
  deepStrictEqual(policy.evaluate(hook(strict)), deny);
  deepStrictEqual(policy.evaluate(hook(open)), { tag: "allow" });
  deepStrictEqual(policy.evaluate(hook(strict)), deny);
  deepStrictEqual(policy.evaluate(hook(JSON.stringify({ deny: ["forbidden_*"], status: 451 }))), {
    tag: "deny",
    val: { status: 451, reason: deny.val.reason },
  });
});

test("refused settings are refused at every hook, and leave the accepted ones usable", () => {
  deepStrictEqual(policy.evaluate(hook(strict)), deny);
  for (let i = 0; i < 3; i++) {
    throws(() => policy.evaluate(hook(refused)), refusal);
    throws(() => policy.validateSettings(refused), refusal);
  }
  deepStrictEqual(policy.evaluate(hook(strict)), deny);
  throws(() => policy.evaluate(hook(refused)), refusal);
});
