/**
 * Quotas and per-route cost (issue 19, docs/quotas.md): the management contract, the gateway's 429
 * quota_exceeded with Retry-After and RateLimit items, exact counting against the key's Durable
 * Object (real, local), calendar periods with a controlled clock, a cost that spends several units,
 * and what happens when the counter cannot be reached.
 */
import { env } from "cloudflare:workers";
import { parseList } from "structured-headers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearLeases } from "../../src/ratelimit/leases";
import { unreachableDurableObjects } from "../helpers/faults";
import { call, countKeys, createKey, expectError, freshTenant, originSaw, userToken } from "../helpers/worker";

afterEach(() => {
  vi.useRealTimers();
});

function uniquePath(prefix = "/api/v1/metered"): string {
  return `${prefix}/${crypto.randomUUID()}`;
}

function fields(res: Response, name: string): Map<string, Record<string, unknown>> {
  const raw = res.headers.get(name);
  if (raw === null) throw new Error(`no ${name} header`);
  return new Map(parseList(raw).map(([item, params]) => [String(item), Object.fromEntries(params)]));
}

/** A route policy where POST /api/v1/reports/** costs 5 and GET /api/v1/free/** costs nothing. */
const COSTED = {
  ROUTE_POLICY: [
    { method: "POST", path: "/api/v1/reports/**", cost: 5 },
    { method: "GET", path: "/api/v1/free/**", cost: 0 },
    { path: "/**" },
  ],
};

describe("quota in the management API", () => {
  it("is stored, shown, inherited on rotation, changed and removed by PATCH; bad input is a 400 naming the field", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const base = `/api/v1/tenant/${tenant}/api-keys`;
    const key = (await createKey(tenant, { quota: { limit: 100, period: "month" } })) as unknown as Record<string, unknown>;
    expect(key.quota).toEqual({ limit: 100, period: "month" });
    const plain = await createKey(tenant);
    expect(Object.keys(plain)).not.toContain("quota");

    const create = (quota: unknown) => call("POST", `${base}/create`, { token, body: { name: "x", scopes: ["api:read"], quota } });
    const cases: [unknown, RegExp][] = [
      ["lots", /^quota must be an object/],
      [{ limit: -1, period: "day" }, /^quota\.limit must be an integer from 1 to/],
      [{ limit: 1.5, period: "day" }, /^quota\.limit must be an integer/],
      [{ limit: 10, period: "week" }, /^quota\.period must be one of: day, month, none/],
      [{ limit: 10 }, /^quota\.period must be one of/],
      [{ limit: 10, period: "day", burst: 1 }, /^unknown field\(s\) in quota: burst/],
    ];
    for (const [value, message] of cases) {
      const err = await expectError(await create(value), 400, "invalid_request");
      expect(err.error_description, JSON.stringify(value)).toMatch(message);
    }
    expect(await countKeys(tenant)).toBe(2);

    const rotated = await call("POST", `${base}/${key.id}/rotate`, { token, body: {} });
    expect(rotated.status).toBe(201);
    const replacement = (await rotated.json()) as Record<string, unknown>;
    expect(replacement.quota).toEqual({ limit: 100, period: "month" });

    const patched = await call("PATCH", `${base}/${replacement.id}`, { token, body: { quota: { limit: 5, period: "none" } } });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as Record<string, unknown>).quota).toMatchObject({ limit: 5, period: "none" });
    const removed = await call("PATCH", `${base}/${replacement.id}`, { token, body: { quota: null } });
    expect(Object.keys((await removed.json()) as object)).not.toContain("quota");
  });

  it("a management key with a quota cannot grant a looser one, nor none", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage", "api:read"], quota: { limit: 1000, period: "day" } });
    const base = `/api/v1/tenant/${tenant}/api-keys`;
    const create = (body: Record<string, unknown>) =>
      call("POST", `${base}/create`, {
        token: manager.api_key,
        body: { name: "child", scopes: ["api:read"], expires_in_days: 1, ...body },
      });
    for (const quota of [undefined, { limit: 1001, period: "day" }, { limit: 10, period: "month" }]) {
      const err = await expectError(await create(quota === undefined ? {} : { quota }), 403, "access_denied");
      expect(err.error_description).toMatch(/cannot grant a looser one: quota needs a limit of at most 1000 per period "day"/);
    }
    const ok = await create({ quota: { limit: 1000, period: "day" } });
    expect(ok.status).toBe(201);
    const child = (await ok.json()) as { id: string };
    await expectError(await call("PATCH", `${base}/${child.id}`, { token: manager.api_key, body: { quota: null } }), 403, "access_denied");
  });
});

describe("gateway: quotas", () => {
  it("admits exactly the quota, then 429 quota_exceeded with Retry-After to the next period and a key.quota item", async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 3, period: "day" } });
    const path = uniquePath();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call("GET", path, { token: key.api_key });
      statuses.push(res.status);
      if (i < 3) {
        expect(res.headers.get("ratelimit-policy")).toBe('"key.quota";q=3;w=86400');
        expect(fields(res, "ratelimit").get("key.quota")).toMatchObject({ r: 2 - i });
      }
      await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const res = await call("GET", path, { token: key.api_key });
    const body = await expectError(res, 429, "quota_exceeded");
    expect(body.error_description).toBe('API key quota exhausted ("key.quota")');
    const toMidnight = 86_400 - (Math.floor(Date.now() / 1000) % 86_400);
    expect(Math.abs(Number(res.headers.get("retry-after")) - toMidnight)).toBeLessThanOrEqual(2);
    expect(fields(res, "ratelimit").get("key.quota")).toMatchObject({ r: 0 });
    expect(await originSaw(path)).toBe(3);
  });

  it("a `none` quota never refills: its refusal has no Retry-After and its RateLimit item no t", async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 2, period: "none" } });
    const path = uniquePath();
    const first = await call("GET", path, { token: key.api_key });
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toBe('"key.quota";q=2');
    expect(fields(first, "ratelimit").get("key.quota")).toEqual({ r: 1 });
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    const res = await call("GET", path, { token: key.api_key });
    await expectError(res, 429, "quota_exceeded");
    expect(res.headers.has("retry-after")).toBe(false);
    expect(await originSaw(path)).toBe(2);
  });

  it("a month quota refills on the 1st at 00:00 UTC (controlled clock)", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2031, 0, 31, 23, 59, 50));
    const key = await createKey(freshTenant(), { quota: { limit: 1, period: "month" }, expires_in_days: 0 });
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    const refused = await call("GET", path, { token: key.api_key });
    await expectError(refused, 429, "quota_exceeded");
    expect(Number(refused.headers.get("retry-after"))).toBe(10);
    vi.setSystemTime(Date.UTC(2031, 1, 1, 0, 0, 1));
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    expect(await originSaw(path)).toBe(2);
  });

  it("never overshoots under concurrency: 80 simultaneous requests for a quota of 15", async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 15, period: "month" } });
    const path = uniquePath();
    const statuses = await Promise.all(Array.from({ length: 80 }, () => call("GET", path, { token: key.api_key }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(15);
    expect(statuses.filter((s) => s === 429)).toHaveLength(65);
    expect(await originSaw(path)).toBe(15);
  });

  it("a rate limit and a quota: one item each in both fields; the tighter refuses and is named", async () => {
    const key = await createKey(freshTenant(), {
      rate_limits: [{ name: "burst", limit: 10, window_seconds: 3600 }],
      quota: { limit: 2, period: "day" },
    });
    const path = uniquePath();
    const res = await call("GET", path, { token: key.api_key });
    expect(res.headers.get("ratelimit-policy")).toBe('"burst";q=10;w=3600, "key.quota";q=2;w=86400');
    const current = fields(res, "ratelimit");
    expect([...current.keys()]).toEqual(["burst", "key.quota"]);
    expect(current.get("burst")).toMatchObject({ r: 9 });
    expect(current.get("key.quota")).toMatchObject({ r: 1 });
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    await expectError(await call("GET", path, { token: key.api_key }), 429, "quota_exceeded");
  });
});

describe("gateway: per-route cost", () => {
  it("cost 5 against a limit of 20 admits 4; the fields account for the cost", async () => {
    const key = await createKey(freshTenant(), { rate_limits: [{ name: "burst", limit: 20, window_seconds: 3600 }] });
    const path = uniquePath("/api/v1/reports");
    const statuses: number[] = [];
    const remaining: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call("POST", path, { token: key.api_key, env: COSTED });
      statuses.push(res.status);
      remaining.push(fields(res, "ratelimit").get("burst")?.r);
      await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect(remaining.slice(0, 4)).toEqual([15, 10, 5, 0]);
    expect(await originSaw(path)).toBe(4);
  });

  it("cost 5 with 300 concurrent requests against a quota of 52 admits exactly 10 (2 units left over)", async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 52, period: "month" } });
    const path = uniquePath("/api/v1/reports");
    const statuses = await Promise.all(
      Array.from({ length: 300 }, () => call("POST", path, { token: key.api_key, env: COSTED }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(await originSaw(path)).toBe(10);
    // The 2 units left still admit a request of cost 1.
    expect((await call("GET", uniquePath(), { token: key.api_key, env: COSTED })).status).toBe(200);
  });

  it("a cost of 0 never touches the counters: admitted after the quota is gone", async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 1, period: "none" } });
    expect((await call("GET", uniquePath(), { token: key.api_key, env: COSTED })).status).toBe(200);
    await expectError(await call("GET", uniquePath(), { token: key.api_key, env: COSTED }), 429, "quota_exceeded");
    const free = await call("GET", uniquePath("/api/v1/free"), { token: key.api_key, env: COSTED });
    expect(free.status).toBe(200);
    expect(free.headers.get("ratelimit-policy")).toBe('"key.quota";q=1');
  });

  it("a rule's cost must be an integer from 0, and not on a public rule: a configuration error", async () => {
    const key = await createKey(freshTenant());
    for (const rule of [
      { path: "/**", cost: -1 },
      { path: "/**", cost: 1.5 },
      { path: "/**", cost: "5" },
      { path: "/**", public: true, cost: 2 },
    ]) {
      const res = await call("GET", uniquePath(), { token: key.api_key, env: { ROUTE_POLICY: [rule] } });
      await expectError(res, 500, "server_error");
    }
  });
});

describe("quotas when the counter cannot be reached", () => {
  it('RATE_LIMIT_FAILURE_MODE = "open" (default): admitted with the policy, no RateLimit field', async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 3, period: "day" } });
    clearLeases();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await call("GET", uniquePath(), { token: key.api_key, env: { RATE_LIMITER: unreachableDurableObjects(env.RATE_LIMITER) } });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-policy")).toBe('"key.quota";q=3;w=86400');
    expect(res.headers.has("ratelimit")).toBe(false);
    errors.mockRestore();
  });

  it('RATE_LIMIT_FAILURE_MODE = "closed": 503 temporarily_unavailable, never reaching the origin', async () => {
    const key = await createKey(freshTenant(), { quota: { limit: 3, period: "day" } });
    clearLeases();
    const path = uniquePath();
    const res = await call("GET", path, {
      token: key.api_key,
      env: { RATE_LIMITER: unreachableDurableObjects(env.RATE_LIMITER), RATE_LIMIT_FAILURE_MODE: "closed" },
    });
    await expectError(res, 503, "temporarily_unavailable");
    expect(await originSaw(path)).toBe(0);
  });
});
