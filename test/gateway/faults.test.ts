/**
 * What the data plane does when something underneath it fails. Each fault is injected into the
 * real local binding (test/helpers/faults.ts); the behaviour is the one docs/gateway.md and docs/abuse.md document.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-record";
import { unavailableD1, withFailures } from "../helpers/faults";
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

describe("D1 unavailable", () => {
  it("the data plane keeps serving keys it knows; management answers 503 temporarily_unavailable, never 500", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    const down = { DB: unavailableD1(env.DB) };
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      // Known key: verification, edge record and scopes need no D1 (last_used fails off the request path).
      expect((await call("GET", path, { token: key.api_key, env: down })).status).toBe(200);
      const token = await userToken({ tenants: [tenant] });
      for (const [method, p, body] of [
        ["GET", `/api/v1/tenant/${tenant}/api-keys/list`, undefined],
        ["POST", `/api/v1/tenant/${tenant}/api-keys/create`, { name: "x", scopes: ["api:read"] }],
        ["POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, undefined],
        ["GET", `/api/v1/tenant/${tenant}/usage`, undefined],
      ] as const) {
        const res = await call(method, p, { token, body, env: down });
        await expectError(res, 503, "temporarily_unavailable");
        expect(res.headers.get("retry-after")).toBe("5");
      }
      // A management key is checked against D1 on every call: unavailable too, not "invalid".
      const manager = await createKey(tenant, { scopes: ["keys:manage"] });
      await expectError(
        await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: manager.api_key, env: down }),
        503,
        "temporarily_unavailable",
      );
      expect(errors.mock.calls.flat().join(" ")).toMatch(/D1 is unavailable/);
    } finally {
      errors.mockRestore();
    }
  });

  it("the usage consumer retries its messages later", async () => {
    const { createExecutionContext, createMessageBatch, getQueueResult } = await import("cloudflare:test");
    const { default: worker } = await import("../../src/index");
    const body = { v: 1, id: crypto.randomUUID(), events: [[Date.now(), "t", "key-x", "GET", "GET /x", 200, "accepted", null, null, 1]] };
    const batch = createMessageBatch("keygate-usage", [{ id: "m1", timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await worker.queue(batch, { ...env, DB: unavailableD1(env.DB) }, ctx);
    errors.mockRestore();
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([{ msgId: "m1" }]);
    expect(result.explicitAcks).toEqual([]);
  });
});

describe("KV writes failing", () => {
  it("a revoke still succeeds, this isolate refuses the key at once, and the reconciler repairs KV", async () => {
    const { createExecutionContext, createScheduledController, waitOnExecutionContext } = await import("cloudflare:test");
    const { default: worker } = await import("../../src/index");
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, {
      token: await userToken({ tenants: [tenant] }),
      env: { EDGE_RECORDS: withFailures(env.EDGE_RECORDS, { methods: ["put"] }) },
    });
    errors.mockRestore();
    expect(res.status).toBe(200);
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`)).toBeNull();
    await expectError(await call("GET", uniquePath(), { token: key.api_key }), 401, "invalid_token");
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`, "json")).toMatchObject({ state: "revoked" });
  });
});

describe("the origin resetting connections", () => {
  it("before its response: 502 bad_gateway; mid-body: the status stands and the body ends early, no 500", async () => {
    const key = await createKey(freshTenant());
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await expectError(await call("GET", "/reset", { token: key.api_key }), 502, "bad_gateway");
      const res = await call("GET", "/reset?after=headers", { token: key.api_key });
      expect(res.status).toBe(200);
      const read = await res.text().then(
        (text) => ({ ok: true, length: text.length }),
        () => ({ ok: false, length: 0 }),
      );
      // Either the stream errors or it is cut short: never the 1,000,000 bytes announced.
      expect(read.ok ? read.length < 1_000_000 : true).toBe(true);
      // The isolate is fine afterwards.
      expect((await call("GET", uniquePath(), { token: key.api_key })).status).toBe(200);
    } finally {
      errors.mockRestore();
    }
  });
});
