/**
 * Per-key rate limits: the management contract, the gateway's 429 and IETF RateLimit fields, exact
 * counting against the key's Durable Object (real, local), window roll-over with a controlled
 * clock, PATCH and rotation, escalation, and what happens when the counter cannot be reached.
 */

import { env } from "cloudflare:workers";
import { parseList } from "structured-headers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearLeases } from "../../src/ratelimit/leases";
import { buildSnapshot, snapshotRecord } from "../helpers/edge";
import { unreachableDurableObjects } from "../helpers/faults";
import { call, countKeys, createKey, expectError, freshTenant, originSaw, userToken } from "../helpers/worker";

afterEach(() => {
  vi.useRealTimers();
});

const BURST = { name: "burst", limit: 3, window_seconds: 60 };

function uniquePath(): string {
  return `/api/v1/limited/${crypto.randomUUID()}`;
}

/** RateLimit-Policy / RateLimit as structured-field lists: name -> parameters. */
function fields(res: Response, name: string): Map<string, Record<string, unknown>> {
  const raw = res.headers.get(name);
  if (raw === null) throw new Error(`no ${name} header`);
  return new Map(parseList(raw).map(([item, params]) => [String(item), Object.fromEntries(params)]));
}

describe("rate_limits in the management API", () => {
  it("are stored, shown only when set, and rejected with a 400 naming the field", async () => {
    const tenant = freshTenant();
    const limited = await createKey(tenant, { rate_limits: [BURST, { name: "daily", limit: 1000, window_seconds: 86_400 }] });
    expect((limited as unknown as Record<string, unknown>).rate_limits).toEqual([
      BURST,
      { name: "daily", limit: 1000, window_seconds: 86_400 },
    ]);
    const plain = await createKey(tenant);
    expect(Object.keys(plain)).not.toContain("rate_limits");
    const token = await userToken({ tenants: [tenant] });
    const create = (rate_limits: unknown) =>
      call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: { name: "x", scopes: ["api:read"], rate_limits } });
    const cases: [unknown, RegExp][] = [
      ["lots", /^rate_limits must be an array/],
      [[{ name: "Burst", limit: 1, window_seconds: 1 }], /^rate_limits\[0\]\.name must be 1-32/],
      [[{ name: "b", limit: 0, window_seconds: 1 }], /^rate_limits\[0\]\.limit must be an integer from 1 to 1000000000/],
      [[{ name: "b", limit: 1e9 + 1, window_seconds: 1 }], /^rate_limits\[0\]\.limit/],
      [[{ name: "b", limit: 1, window_seconds: 2_678_401 }], /^rate_limits\[0\]\.window_seconds must be an integer from 1 to 2678400/],
      [[{ name: "b", limit: 1 }], /^rate_limits\[0\]\.window_seconds is required/],
      [[{ name: "b", limit: 1, window_seconds: 1, burst: 2 }], /^unknown field\(s\) in rate_limits\[0\]: burst/],
      [[BURST, BURST], /^rate_limits names must be unique/],
      [Array.from({ length: 6 }, (_, i) => ({ name: `l${i}`, limit: 1, window_seconds: 1 })), /^rate_limits may hold at most 5/],
    ];
    for (const [value, message] of cases) {
      const err = await expectError(await create(value), 400, "invalid_request");
      expect(err.error_description, JSON.stringify(value)).toMatch(message);
    }
    expect(await countKeys(tenant)).toBe(2);
  });
});

describe("gateway: rate limits", () => {
  it("admits exactly `limit` requests, then 429 with Retry-After and the IETF fields, never reaching the origin", async () => {
    const key = await createKey(freshTenant(), { rate_limits: [BURST, { name: "daily", limit: 100, window_seconds: 86_400 }] });
    const path = uniquePath();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await call("GET", path, { token: key.api_key });
      statuses.push(last.status);
      if (i < 3) {
        expect(fields(last, "ratelimit-policy")).toEqual(
          new Map([
            ["burst", { q: 3, w: 60 }],
            ["daily", { q: 100, w: 86_400 }],
          ]),
        );
        // One item per policy (issue 19), with what is left after this request.
        const current = fields(last, "ratelimit");
        expect([...current.keys()]).toEqual(["burst", "daily"]);
        expect(current.get("burst")?.r).toBe(2 - i);
        expect(current.get("daily")?.r).toBeLessThanOrEqual(99 - i);
        expect(current.get("burst")?.t).toBeGreaterThan(0);
        expect(current.get("burst")?.t).toBeLessThanOrEqual(60);
      }
      await last.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const res = await call("GET", path, { token: key.api_key });
    const body = await expectError(res, 429, "rate_limited");
    expect(body.error_description).toBe("API key rate limit exceeded");
    const secondsLeft = 60 - (Math.floor(Date.now() / 1000) % 60);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(secondsLeft - 1);
    expect(fields(res, "ratelimit").get("burst")).toMatchObject({ r: 0 });
    expect(res.headers.get("ratelimit-policy")).toBe('"burst";q=3;w=60, "daily";q=100;w=86400');
    expect(res.headers.has("x-ratelimit-limit")).toBe(false);
    expect(await originSaw(path)).toBe(3);
  });

  it("a limited key's response is the origin's, status, headers and body, plus the RateLimit fields", async () => {
    const key = await createKey(freshTenant(), { rate_limits: [{ name: "burst", limit: 100, window_seconds: 60 }] });
    const res = await call("GET", `/status/418?${crypto.randomUUID()}`, { token: key.api_key });
    expect(res.status).toBe(418);
    expect(res.headers.get("x-origin-header")).toBe("kept");
    expect(res.headers.get("set-cookie")).toBe("origin=1; Path=/");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("ratelimit-policy")).toBe('"burst";q=100;w=60');
    expect(await res.json()).toEqual({ status: 418 });
  });

  it("a key without limits carries no RateLimit fields", async () => {
    const key = await createKey(freshTenant());
    const res = await call("GET", uniquePath(), { token: key.api_key });
    expect(res.status).toBe(200);
    expect(res.headers.has("ratelimit")).toBe(false);
    expect(res.headers.has("ratelimit-policy")).toBe(false);
  });

  it("never overshoots under concurrency: 60 simultaneous requests for a limit of 10", async () => {
    const key = await createKey(freshTenant(), { rate_limits: [{ name: "burst", limit: 10, window_seconds: 3600 }] });
    const path = uniquePath();
    const statuses = await Promise.all(Array.from({ length: 60 }, () => call("GET", path, { token: key.api_key }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50);
    expect(await originSaw(path)).toBe(10);
  });

  it("opens a new window when the old one ends (controlled clock)", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const windowStart = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
    vi.setSystemTime(windowStart + 5_000);
    const key = await createKey(freshTenant(), { rate_limits: [{ name: "minute", limit: 2, window_seconds: 60 }] });
    const path = uniquePath();
    const at = async (ms: number) => {
      vi.setSystemTime(ms);
      const res = await call("GET", path, { token: key.api_key });
      await res.arrayBuffer();
      return [res.status, res.headers.get("retry-after")];
    };
    expect(await at(windowStart + 10_000)).toEqual([200, null]);
    expect(await at(windowStart + 20_000)).toEqual([200, null]);
    // 39 s before the window ends: Retry-After never points earlier than that.
    expect(await at(windowStart + 21_000)).toEqual([429, "39"]);
    expect(await at(windowStart + 59_999)).toEqual([429, "1"]);
    expect(await at(windowStart + 60_000)).toEqual([200, null]);
    expect(await at(windowStart + 61_000)).toEqual([200, null]);
    expect(await at(windowStart + 62_000)).toEqual([429, "58"]);
    expect(await originSaw(path)).toBe(4);
  });

  it("PATCH tightens and loosens a key's limits, and null removes them", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const key = await createKey(tenant, { rate_limits: [{ name: "burst", limit: 5, window_seconds: 3600 }] });
    const path = uniquePath();
    const get = async () => {
      const res = await call("GET", path, { token: key.api_key });
      await res.arrayBuffer();
      return res;
    };
    const patch = async (body: unknown) => {
      const res = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(200);
    await patch({ rate_limits: [{ name: "burst", limit: 2, window_seconds: 3600 }] });
    expect((await get()).status).toBe(429);
    await patch({ rate_limits: [{ name: "burst", limit: 4, window_seconds: 3600 }] });
    const loosened = await get();
    expect(loosened.status).toBe(200);
    expect(loosened.headers.get("ratelimit-policy")).toBe('"burst";q=4;w=3600');
    const cleared = await patch({ rate_limits: null });
    expect(Object.keys(cleared)).not.toContain("rate_limits");
    const free = await get();
    expect(free.status).toBe(200);
    expect(free.headers.has("ratelimit-policy")).toBe(false);
    await buildSnapshot();
    expect(await snapshotRecord(key.id)).toBeUndefined();
  });

  it("rotation inherits the limits; the replacement counts on its own", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { rate_limits: [{ name: "burst", limit: 1, window_seconds: 3600 }] });
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    expect((await call("GET", path, { token: key.api_key })).status).toBe(429);
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/rotate`, { token: await userToken({ tenants: [tenant] }) });
    const next = (await res.json()) as { api_key: string; rate_limits: unknown };
    expect(next.rate_limits).toEqual([{ name: "burst", limit: 1, window_seconds: 3600 }]);
    expect((await call("GET", path, { token: next.api_key })).status).toBe(200);
    expect((await call("GET", path, { token: next.api_key })).status).toBe(429);
    // The old key, still in its grace period, keeps its own exhausted limit.
    expect((await call("GET", path, { token: key.api_key })).status).toBe(429);
  });
});

describe("rate limits and management keys", () => {
  it("a management key with limits cannot create, rotate or patch to looser limits", async () => {
    const tenant = freshTenant();
    const own = { name: "burst", limit: 100, window_seconds: 60 };
    const manager = await createKey(tenant, { scopes: ["keys:manage", "api:read"], expires_in_days: 0, rate_limits: [own] });
    const base = `/api/v1/tenant/${tenant}/api-keys`;
    const create = (rate_limits?: unknown) =>
      call("POST", `${base}/create`, {
        token: manager.api_key,
        body: { name: "child", scopes: ["api:read"], expires_in_days: 1, rate_limits },
      });
    for (const looser of [undefined, [], [{ ...own, limit: 101 }], [{ ...own, window_seconds: 3600 }]]) {
      const err = await expectError(await create(looser), 403, "access_denied");
      expect(err.error_description).toMatch(/at most 100 per 60 s/);
    }
    expect(
      (
        await create([
          { ...own, name: "tighter", limit: 50 },
          { name: "daily", limit: 5, window_seconds: 86_400 },
        ])
      ).status,
    ).toBe(201);
    const child = (await (await create([own])).json()) as { id: string };
    await expectError(
      await call("PATCH", `${base}/${child.id}`, { token: manager.api_key, body: { rate_limits: null } }),
      403,
      "access_denied",
    );
    await expectError(
      await call("POST", `${base}/${child.id}/rotate`, { token: manager.api_key, body: { rate_limits: [{ ...own, limit: 1000 }] } }),
      403,
      "access_denied",
    );
    // Rotation inheriting the same limits is fine.
    expect((await call("POST", `${base}/${child.id}/rotate`, { token: manager.api_key })).status).toBe(201);
  });
});

describe("rate limits when the counter cannot be reached", () => {
  it('RATE_LIMIT_FAILURE_MODE = "open" (default): admitted, with the policy but no RateLimit field, and logged', async () => {
    const key = await createKey(freshTenant(), { rate_limits: [BURST] });
    clearLeases();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await call("GET", uniquePath(), { token: key.api_key, env: { RATE_LIMITER: unreachableDurableObjects(env.RATE_LIMITER) } });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-policy")).toBe('"burst";q=3;w=60');
    expect(res.headers.has("ratelimit")).toBe(false);
    expect(errors.mock.calls.flat().join(" ")).toMatch(/rate-limit counter unreachable/);
    errors.mockRestore();
  });

  it('RATE_LIMIT_FAILURE_MODE = "closed": 503 temporarily_unavailable with Retry-After, never reaching the origin', async () => {
    const key = await createKey(freshTenant(), { rate_limits: [BURST] });
    clearLeases();
    const path = uniquePath();
    const res = await call("GET", path, {
      token: key.api_key,
      env: { RATE_LIMITER: unreachableDurableObjects(env.RATE_LIMITER), RATE_LIMIT_FAILURE_MODE: "closed" },
    });
    await expectError(res, 503, "temporarily_unavailable");
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await originSaw(path)).toBe(0);
  });

  it("a counter that does not answer counts as unreachable after its timeout", async () => {
    const key = await createKey(freshTenant(), { rate_limits: [BURST] });
    clearLeases();
    const res = await call("GET", uniquePath(), {
      token: key.api_key,
      env: { RATE_LIMITER: unreachableDurableObjects(env.RATE_LIMITER, "hang"), RATE_LIMIT_FAILURE_MODE: "closed" },
    });
    await expectError(res, 503, "temporarily_unavailable");
  });
});
