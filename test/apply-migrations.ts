import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, expect } from "vitest";
import { countFetchSubrequests, limitedBindings, resetTestScope } from "./helpers/platform-limits";

// Setup files run outside per-test storage and may run more than once; applyD1Migrations only
// applies what is missing.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Production limits on the test env's bindings, in place (idempotent), so everything a test calls
// directly, and the worker when handed this env, meets them (test/helpers/platform-limits.ts).
Object.assign(env, limitedBindings(env));
countFetchSubrequests();
beforeEach(() => resetTestScope(expect.getState().currentTestName ?? "test"));
