/**
 * Limit groups (shared budgets, issue 19): CRUD and its 400s/409s, keys joining on create, rotate and
 * PATCH, a group's quota shared exactly by three keys, the tightest limit deciding and named, the
 * management-key rules, the group's view (keys, quota state) and usage, and an unreachable counter.
 */
import { env } from "cloudflare:workers";
import { parseList } from "structured-headers";
import { describe, expect, it, vi } from "vitest";
import { clearLeases } from "../../src/ratelimit/leases";
import { unreachableDurableObjects } from "../helpers/faults";
import { auditRows, call, createKey, expectError, freshTenant, originSaw, userToken } from "../helpers/worker";

function uniquePath(): string {
  return `/api/v1/shared/${crypto.randomUUID()}`;
}

function fields(res: Response, name: string): Map<string, Record<string, unknown>> {
  const raw = res.headers.get(name);
  if (raw === null) throw new Error(`no ${name} header`);
  return new Map(parseList(raw).map(([item, params]) => [String(item), Object.fromEntries(params)]));
}

async function newGroup(tenant: string, body: Record<string, unknown>): Promise<{ id: string } & Record<string, unknown>> {
  const res = await call("POST", `/api/v1/tenant/${tenant}/limit-groups`, { token: await userToken({ tenants: [tenant] }), body });
  if (res.status !== 201) throw new Error(`group create failed: ${res.status} ${await res.text()}`);
  return res.json();
}

describe("limit groups in the management API", () => {
  it("are created, listed, read, changed and deleted (audited); bad input is a 400 naming the field and writes nothing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const base = `/api/v1/tenant/${tenant}/limit-groups`;
    const group = await newGroup(tenant, {
      name: "Acme",
      rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }],
      quota: { limit: 100, period: "day" },
    });
    expect(group.id).toMatch(/^grp-[0-9a-f-]{36}$/);
    expect(group).toMatchObject({
      name: "Acme",
      rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }],
      quota: { limit: 100, period: "day" },
    });

    const cases: [unknown, RegExp][] = [
      [{}, /^name is required/],
      [{ name: "x", quota: { limit: 0, period: "day" } }, /^quota\.limit must be an integer from 1/],
      [{ name: "x", quota: { limit: 5, period: "year" } }, /^quota\.period must be one of: day, month, none/],
      [{ name: "x", rate_limits: [{ name: "B", limit: 1, window_seconds: 1 }] }, /^rate_limits\[0\]\.name/],
      [{ name: "x", members: [] }, /^unknown field\(s\): members/],
    ];
    for (const [body, message] of cases) {
      const err = await expectError(await call("POST", base, { token, body }), 400, "invalid_request");
      expect(err.error_description, JSON.stringify(body)).toMatch(message);
    }
    const list = (await (await call("GET", base, { token })).json()) as { id: string }[];
    expect(list.map((g) => g.id)).toEqual([group.id]);

    const patched = await call("PATCH", `${base}/${group.id}`, {
      token,
      body: { rate_limits: null, quota: { limit: 50, period: "month" } },
    });
    expect(await patched.json()).toMatchObject({ id: group.id, quota: { limit: 50, period: "month" } });
    const one = (await (await call("GET", `${base}/${group.id}`, { token })).json()) as Record<string, unknown>;
    expect(one).not.toHaveProperty("rate_limits");
    expect(one.quota).toMatchObject({ limit: 50, period: "month", remaining: 50, credited: 0 });
    expect(one.keys).toEqual([]);

    expect((await call("DELETE", `${base}/${group.id}`, { token })).status).toBe(200);
    await expectError(await call("GET", `${base}/${group.id}`, { token }), 404, "not_found");
    const actions = (await auditRows(tenant)).map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(["create_limit_group", "update_limit_group", "delete_limit_group"]));
  });

  it("a key joins with limit_group on create, rotate or PATCH; a group of another tenant is a 400 naming the field", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const group = await newGroup(tenant, { name: "g", quota: { limit: 10, period: "day" } });
    const other = await newGroup(freshTenant(), { name: "theirs" });
    const key = (await createKey(tenant, { limit_group: group.id })) as unknown as Record<string, unknown>;
    expect(key.limit_group).toBe(group.id);
    const create = (limit_group: unknown) =>
      call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: { name: "x", scopes: ["api:read"], limit_group } });
    for (const [value, message] of [
      [other.id, /^limit_group grp-.* is not a limit group of this tenant/],
      ["grp-nope", /^limit_group must be a limit group id/],
      [7, /^limit_group must be a limit group id/],
    ] as const) {
      const err = await expectError(await create(value), 400, "invalid_request");
      expect(err.error_description).toMatch(message);
    }
    const rotated = (await (
      await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/rotate`, { token, body: {} })
    ).json()) as Record<string, unknown>;
    expect(rotated.limit_group).toBe(group.id);
    const left = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${rotated.id}`, { token, body: { limit_group: null } });
    expect(await left.json()).not.toHaveProperty("limit_group");
  });

  it("deleting a group with keys is 409 and changes nothing; with ?detach=true its keys leave it", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const group = await newGroup(tenant, { name: "g", quota: { limit: 1, period: "none" } });
    const key = await createKey(tenant, { limit_group: group.id });
    const base = `/api/v1/tenant/${tenant}/limit-groups/${group.id}`;
    await expectError(await call("DELETE", base, { token }), 409, "conflict");
    expect((await call("GET", base, { token })).status).toBe(200);
    await expectError(await call("DELETE", `${base}?detach=maybe`, { token }), 400, "invalid_request");
    const res = await call("DELETE", `${base}?detach=true`, { token });
    expect(await res.json()).toEqual({ success: true, detached: 1 });
    const view = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token })).json()) as object;
    expect(view).not.toHaveProperty("limit_group");
    // Its edge record no longer names the group (the key had nothing else: the entry is gone).
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`)).toBeNull();
  });
});

describe("gateway: limit groups", () => {
  it("a quota of 12 shared by three keys: exactly 12 of 90 concurrent requests reach the origin", async () => {
    const tenant = freshTenant();
    const group = await newGroup(tenant, { name: "shared", quota: { limit: 12, period: "month" } });
    const keys = await Promise.all([1, 2, 3].map(() => createKey(tenant, { limit_group: group.id })));
    const path = uniquePath();
    const statuses = await Promise.all(
      Array.from({ length: 90 }, (_, i) => call("GET", path, { token: keys[i % 3]?.api_key }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(12);
    expect(statuses.filter((s) => s === 429)).toHaveLength(78);
    expect(await originSaw(path)).toBe(12);
    const refused = await call("GET", path, { token: keys[0]?.api_key });
    const body = await expectError(refused, 429, "quota_exceeded");
    expect(body.error_description).toBe(`The quota of the key's limit group ${group.id} is exhausted ("group.quota")`);
    const token = await userToken({ tenants: [tenant] });
    const view = (await (await call("GET", `/api/v1/tenant/${tenant}/limit-groups/${group.id}`, { token })).json()) as Record<
      string,
      unknown
    >;
    expect(view.quota).toMatchObject({ remaining: 0 });
    expect((view.keys as unknown[]).length).toBe(3);
  });

  it("the tightest limit decides and the refusal names it: the key's own rate limit, then the group's", async () => {
    const tenant = freshTenant();
    const group = await newGroup(tenant, { name: "g", rate_limits: [{ name: "burst", limit: 3, window_seconds: 3600 }] });
    const tight = await createKey(tenant, { limit_group: group.id, rate_limits: [{ name: "own", limit: 1, window_seconds: 3600 }] });
    const loose = await createKey(tenant, { limit_group: group.id });
    const path = uniquePath();
    const first = await call("GET", path, { token: tight.api_key });
    expect(first.headers.get("ratelimit-policy")).toBe('"own";q=1;w=3600, "group.burst";q=3;w=3600');
    expect([...fields(first, "ratelimit").keys()]).toEqual(["own", "group.burst"]);
    const own = await expectError(await call("GET", path, { token: tight.api_key }), 429, "rate_limited");
    expect(own.error_description).toBe("API key rate limit exceeded");
    expect((await call("GET", path, { token: loose.api_key })).status).toBe(200);
    expect((await call("GET", path, { token: loose.api_key })).status).toBe(200);
    const grouped = await expectError(await call("GET", path, { token: loose.api_key }), 429, "rate_limited");
    expect(grouped.error_description).toBe(`The rate limit of the key's limit group ${group.id} is exceeded ("group.burst")`);
    expect(await originSaw(path)).toBe(3);
  });

  it("loosening a group reaches its counter at once", async () => {
    const tenant = freshTenant();
    const group = await newGroup(tenant, { name: "g", quota: { limit: 1, period: "month" } });
    const key = await createKey(tenant, { limit_group: group.id });
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    await expectError(await call("GET", path, { token: key.api_key }), 429, "quota_exceeded");
    const token = await userToken({ tenants: [tenant] });
    await call("PATCH", `/api/v1/tenant/${tenant}/limit-groups/${group.id}`, { token, body: { quota: { limit: 3, period: "month" } } });
    // This isolate asks an exhausted group again after QUOTA_RECHECK_MS (1 s).
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
  });

  it("loosening a group's exhausted rate limit reaches every isolate within a second, not at the window's end", async () => {
    const tenant = freshTenant();
    const group = await newGroup(tenant, { name: "g", rate_limits: [{ name: "daily", limit: 1, window_seconds: 86_400 }] });
    const key = await createKey(tenant, { limit_group: group.id });
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    await expectError(await call("GET", path, { token: key.api_key }), 429, "rate_limited");
    const token = await userToken({ tenants: [tenant] });
    const loosened = await call("PATCH", `/api/v1/tenant/${tenant}/limit-groups/${group.id}`, {
      token,
      body: { rate_limits: [{ name: "daily", limit: 5, window_seconds: 86_400 }] },
    });
    expect(loosened.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
  });

  it("the group's usage over time sums its keys", async () => {
    const tenant = freshTenant();
    const group = await newGroup(tenant, { name: "g" });
    const token = await userToken({ tenants: [tenant] });
    const res = await call("GET", `/api/v1/tenant/${tenant}/limit-groups/${group.id}/usage`, { token });
    expect(await res.json()).toMatchObject({ limit_group: group.id, granularity: "hour", buckets: [], totals: { total: 0 } });
    await expectError(
      await call("GET", `/api/v1/tenant/${tenant}/limit-groups/grp-00000000-0000-4000-8000-000000000000/usage`, { token }),
      404,
      "not_found",
    );
  });

  it('an unreachable group counter: RATE_LIMIT_FAILURE_MODE = "closed" answers 503, "open" admits', async () => {
    const tenant = freshTenant();
    const group = await newGroup(tenant, { name: "g", quota: { limit: 5, period: "day" } });
    const key = await createKey(tenant, { limit_group: group.id });
    clearLeases();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const down = unreachableDurableObjects(env.RATE_LIMITER);
    const path = uniquePath();
    await expectError(
      await call("GET", path, { token: key.api_key, env: { RATE_LIMITER: down, RATE_LIMIT_FAILURE_MODE: "closed" } }),
      503,
      "temporarily_unavailable",
    );
    expect(await originSaw(path)).toBe(0);
    expect((await call("GET", path, { token: key.api_key, env: { RATE_LIMITER: down } })).status).toBe(200);
    errors.mockRestore();
  });
});

describe("limit groups and management keys", () => {
  it("a management key puts a child only in its own group or in none, and cannot change or delete its group", async () => {
    const tenant = freshTenant();
    const mine = await newGroup(tenant, { name: "mine" });
    const other = await newGroup(tenant, { name: "other" });
    const manager = await createKey(tenant, { scopes: ["keys:manage", "api:read"], limit_group: mine.id });
    const outsider = await createKey(tenant, { scopes: ["keys:manage", "api:read"] });
    const create = (token: string, limit_group?: string) =>
      call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
        token,
        body: { name: "child", scopes: ["api:read"], expires_in_days: 1, ...(limit_group ? { limit_group } : {}) },
      });
    expect((await create(manager.api_key, mine.id)).status).toBe(201);
    expect((await create(manager.api_key)).status).toBe(201);
    const err = await expectError(await create(manager.api_key, other.id), 403, "access_denied");
    expect(err.error_description).toMatch(/only put a key in its own limit group/);
    await expectError(await create(outsider.api_key, mine.id), 403, "access_denied");
    const groupPath = `/api/v1/tenant/${tenant}/limit-groups/${mine.id}`;
    await expectError(await call("PATCH", groupPath, { token: manager.api_key, body: { quota: null } }), 403, "access_denied");
    await expectError(await call("DELETE", `${groupPath}?detach=true`, { token: manager.api_key }), 403, "access_denied");
  });
});
