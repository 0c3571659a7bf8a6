/**
 * What the data plane does when something underneath it fails. Each fault is injected into the
 * real local binding (test/helpers/faults.ts); the behaviour is the one docs/gateway.md and docs/abuse.md document.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-cache";
import { FIRST_POLL_WAIT_MS } from "../../src/keys/edge-view";
import { reconcileEdgeRecords } from "../../src/keys/reconcile";
import { buildSnapshot, snapshotRecord } from "../helpers/edge";
import { unavailableD1, withFailures } from "../helpers/faults";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

function uniquePath(): string {
  return `/api/v1/faults/${crypto.randomUUID()}`;
}

/** The KV binding with reads of names starting with `prefix` failing (a shard, or the manifest). */
function unreadable(prefix: string): KVNamespace {
  return new Proxy(env.EDGE_RECORDS, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return (name: string, ...rest: unknown[]) =>
          name.startsWith(prefix)
            ? Promise.reject(new Error("injected fault: KV unavailable"))
            : (target.get as (...a: unknown[]) => unknown)(name, ...rest);
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function revoke(tenant: string, keyId: string): Promise<void> {
  await call("POST", `/api/v1/tenant/${tenant}/api-keys/${keyId}/revoke`, { token: await userToken({ tenants: [tenant] }) });
}

/** Empties the change feed, as the day's retention would (it keeps the newest row): only the snapshot knows older changes. */
async function pruneFeed(): Promise<void> {
  const other = `key-${crypto.randomUUID()}`;
  await env.DB.prepare("INSERT INTO edge_changes (key_id, at) VALUES (?, ?)")
    .bind(other, Math.floor(Date.now() / 1000))
    .run();
  await env.DB.prepare("DELETE FROM edge_changes WHERE seq < (SELECT max(seq) FROM edge_changes)").run();
}

describe("KV reads of the edge-record snapshot failing", () => {
  it("a shard unreadable: a fresh isolate refuses a key the feed knows revoked, serves one with no record, and logs it", async () => {
    const tenant = freshTenant();
    const revoked = await createKey(tenant);
    const plain = await createKey(tenant);
    await buildSnapshot();
    await revoke(tenant, revoked.id);
    clearEdgeCache();
    const broken = { EDGE_RECORDS: unreadable("edge-shard:") };
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await expectError(await call("GET", uniquePath(), { token: revoked.api_key, env: broken }), 401, "invalid_token");
      expect((await call("GET", uniquePath(), { token: plain.api_key, env: broken })).status).toBe(200);
    } finally {
      errors.mockRestore();
    }
  });

  it("a key revoked before the feed's window, its shard unreadable: served (documented trade-off), refused once KV answers", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await revoke(tenant, key.id);
    await buildSnapshot();
    await pruneFeed();
    clearEdgeCache();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect((await call("GET", uniquePath(), { token: key.api_key, env: { EDGE_RECORDS: unreadable("edge-shard:") } })).status).toBe(200);
      expect(errors.mock.calls.flat().join(" ")).toMatch(/KV read of edge records failing/);
    } finally {
      errors.mockRestore();
    }
    // The shard is asked again a second later.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 2_000);
    try {
      await expectError(await call("GET", uniquePath(), { token: key.api_key }), 401, "invalid_token");
    } finally {
      vi.useRealTimers();
    }
  });

  it("the manifest unreadable at an isolate's start: the feed's first poll reads the whole day, a revocation in it refuses the key", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await buildSnapshot();
    await revoke(tenant, key.id);
    clearEdgeCache();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const broken = { EDGE_RECORDS: withFailures(env.EDGE_RECORDS, { methods: ["get"] }) };
      await expectError(await call("GET", uniquePath(), { token: key.api_key, env: broken }), 401, "invalid_token");
    } finally {
      errors.mockRestore();
    }
  });
});

describe("D1 unavailable when an isolate starts", () => {
  it("its first requests do not wait for the feed: the snapshot alone refuses a key revoked before it, serves the rest", async () => {
    const tenant = freshTenant();
    const revoked = await createKey(tenant);
    const plain = await createKey(tenant);
    await revoke(tenant, revoked.id);
    await buildSnapshot();
    clearEdgeCache();
    const down = { DB: unavailableD1(env.DB) };
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await expectError(await call("GET", uniquePath(), { token: revoked.api_key, env: down }), 401, "invalid_token");
      expect((await call("GET", uniquePath(), { token: plain.api_key, env: down })).status).toBe(200);
      expect(errors.mock.calls.flat().join(" ")).toMatch(/edge change feed: D1 poll failing/);
    } finally {
      errors.mockRestore();
    }
  });

  it("D1 that never answers: the first request goes on after FIRST_POLL_WAIT_MS", async () => {
    const tenant = freshTenant();
    const plain = await createKey(tenant);
    await buildSnapshot();
    clearEdgeCache();
    const hung = new Proxy(env.DB, {
      get(target, prop, receiver) {
        if (prop === "batch") return () => new Promise(() => {});
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const started = performance.now();
    expect((await call("GET", uniquePath(), { token: plain.api_key, env: { DB: hung } })).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(FIRST_POLL_WAIT_MS + 5_000);
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

describe("the reconciler's KV writes failing", () => {
  it("the manifest keeps naming what KV holds, the run says so, and the next run writes the snapshot", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await buildSnapshot();
    await revoke(tenant, key.id);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const failing = await reconcileEdgeRecords(env.DB, withFailures(env.EDGE_RECORDS, { methods: ["put"] }), Math.floor(Date.now() / 1000));
    errors.mockRestore();
    expect(failing.failed).toBeGreaterThanOrEqual(1);
    expect(failing.passCompleted).toBe(false);
    expect(await snapshotRecord(key.id)).toBeUndefined();
    await buildSnapshot();
    expect(await snapshotRecord(key.id)).toMatchObject({ state: "revoked" });
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
