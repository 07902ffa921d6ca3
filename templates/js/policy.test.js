// The cases of tests/ against policy.js, under Node (`node --test` in plugins/js).
import { runDir } from "../hookgate-testing.js";
import * as policy from "./policy.js";

runDir(policy, new URL("./tests", import.meta.url));
