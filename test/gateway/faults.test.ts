/**
 * What the data plane does when something underneath it fails. Each fault is injected into the
 * real local binding (test/helpers/faults.ts); the behaviour is the one README documents.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-record";
import { withFailures } from "../helpers/faults";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

function uniquePath(): string {
  return `/api/v1/faults/${crypto.randomUUID()}`;
}

describe("KV reads of edge records failing", () => {
  it("keeps refusing a key this isolate knows is revoked, serves others on signature and expiry, and logs it", async () => {
    const tenant = freshTenant();
    const revoked = await createKey(tenant);
    const unknown = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const broken = { EDGE_RECORDS: withFailures(env.EDGE_RECORDS, { methods: ["get"] }) };
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      // Long after this isolate's cache went stale: KV must be read, and cannot be.
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() + 10 * 60_000);
      await expectError(await call("GET", uniquePath(), { token: revoked.api_key, env: broken }), 401, "invalid_token");
      expect((await call("GET", uniquePath(), { token: unknown.api_key, env: broken })).status).toBe(200);
      expect(errors.mock.calls.flat().join(" ")).toMatch(/KV read of edge records failing/);
    } finally {
      vi.useRealTimers();
      errors.mockRestore();
    }
  });

  it("a key this isolate never saw, revoked, is served while KV cannot be read (documented trade-off), refused once it can", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    clearEdgeCache();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const broken = { EDGE_RECORDS: withFailures(env.EDGE_RECORDS, { methods: ["get"] }) };
    expect((await call("GET", uniquePath(), { token: key.api_key, env: broken })).status).toBe(200);
    errors.mockRestore();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 2_000);
    try {
      await expectError(await call("GET", uniquePath(), { token: key.api_key }), 401, "invalid_token");
    } finally {
      vi.useRealTimers();
    }
  });
});
