// The shared stream-guard cases (plugins/cases/stream-guard) against policy.js, under Node.
import { runDir } from "../hookgate-testing.js";
import * as policy from "./policy.js";

runDir(policy, new URL("../../cases/stream-guard", import.meta.url));
