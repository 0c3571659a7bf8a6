/**
 * The least-privilege report against a recorded workload: real gateway requests through the usage
 * queue and roll-up, three keys and five scopes with known use, then scope-usage, the report and
 * narrowing. Wildcard scopes are judged here too (the route policy is wrangler.toml's).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { usageConfig } from "../../src/usage/config";
import { pruneUsage } from "../../src/usage/retention";
import { eventually } from "../helpers/eventually";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const ROLLUP_TIMEOUT_MS = 45_000;

async function recordedCount(keyId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM scope_usage WHERE key_id = ?")
    .bind(keyId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** `n` gateway requests with the key, each answered 200 by the origin. */
async function requests(key: string, method: string, path: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await call(method, path, { token: key, body: method === "GET" ? undefined : {} });
    expect(res.status, `${method} ${path}`).toBe(200);
  }
}

interface ScopeUsage {
  key_id: string;
  window: { days: number; from: number; to: number };
  scopes: { scope: string; exercised: boolean; count: number; last_exercised: number | null; exercised_as?: string[] }[];
  exercised_scopes: string[];
}

describe("the least-privilege report, against a recorded workload", () => {
  it("three keys, five scopes, known use: scope usage per key, the report, narrowing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant], extraClaims: { keygate_roles: ["operator"] } });
    const start = Math.floor(Date.now() / 1000);
    // The five scopes: api:read, api:write, deploy:production, admin:read, admin:write.
    const ci = await createKey(tenant, { name: "ci", scopes: ["api:read", "api:write", "deploy:production"] });
    const ops = await createKey(tenant, { name: "ops", scopes: ["deploy:*", "admin:read"] });
    const idle = await createKey(tenant, { name: "idle", scopes: ["admin:write", "api:read"] });

    await requests(ci.api_key, "GET", "/api/v1/resources/widgets", 3);
    await requests(ci.api_key, "POST", "/api/v1/deploy", 2);
    await requests(ops.api_key, "POST", "/deploy", 1); // deploy:production, through deploy:*
    await requests(ops.api_key, "GET", "/api/v1/admin/users", 4);
    // Refused requests exercise nothing.
    await expectError(await call("DELETE", "/api/v1/admin/users", { token: ops.api_key }), 403, "insufficient_scope");

    expect(
      await eventually(
        () => recordedCount(ci.id),
        (n) => n === 5,
        ROLLUP_TIMEOUT_MS,
      ),
    ).toBe(5);
    expect(
      await eventually(
        () => recordedCount(ops.id),
        (n) => n === 5,
        ROLLUP_TIMEOUT_MS,
      ),
    ).toBe(5);

    const usageOf = async (id: string, query = "") => {
      const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/${id}/scope-usage${query}`, { token });
      expect(res.status).toBe(200);
      return (await res.json()) as ScopeUsage;
    };
    const ciUsage = await usageOf(ci.id);
    expect(ciUsage.window.days).toBe(30);
    expect(ciUsage.scopes).toEqual([
      { scope: "api:read", exercised: true, count: 3, last_exercised: expect.any(Number) },
      { scope: "api:write", exercised: false, count: 0, last_exercised: null },
      { scope: "deploy:production", exercised: true, count: 2, last_exercised: expect.any(Number) },
    ]);
    expect(ciUsage.scopes[0]?.last_exercised).toBeGreaterThanOrEqual(start);
    expect(ciUsage.exercised_scopes).toEqual(["api:read", "deploy:production"]);

    const opsUsage = await usageOf(ops.id);
    expect(opsUsage.scopes).toEqual([
      { scope: "admin:read", exercised: true, count: 4, last_exercised: expect.any(Number) },
      { scope: "deploy:*", exercised: true, count: 1, last_exercised: expect.any(Number), exercised_as: ["deploy:production"] },
    ]);
    expect(opsUsage.exercised_scopes).toEqual(["admin:read", "deploy:production"]);

    // Pages of scopes, by name.
    const first = await call("GET", `/api/v1/tenant/${tenant}/api-keys/${ci.id}/scope-usage?limit=2`, { token });
    expect(((await first.json()) as ScopeUsage).scopes.map((s) => s.scope)).toEqual(["api:read", "api:write"]);
    const cursor = first.headers.get("x-next-cursor");
    expect(cursor).not.toBeNull();
    const second = (await (
      await call("GET", `/api/v1/tenant/${tenant}/api-keys/${ci.id}/scope-usage?limit=2&cursor=${cursor}`, { token })
    ).json()) as ScopeUsage;
    expect(second.scopes.map((s) => s.scope)).toEqual(["deploy:production"]);

    const report = (await (await call("GET", `/api/v1/tenant/${tenant}/scope-report?days=30`, { token })).json()) as {
      window: { days: number };
      keys: { key_id: string; unused: boolean; unexercised_scopes: string[]; exercised_scopes: string[] }[];
    };
    expect(report.window.days).toBe(30);
    // Newest first; ops exercised everything it holds and is not listed.
    expect(report.keys).toMatchObject([
      { key_id: idle.id, unused: true, unexercised_scopes: ["admin:write", "api:read"], exercised_scopes: [] },
      { key_id: ci.id, unused: false, unexercised_scopes: ["api:write"], exercised_scopes: ["api:read", "deploy:production"] },
    ]);
    // A page of one key at a time: the same findings, following the cursor.
    const paged: string[] = [];
    let next: string | null = "";
    while (next !== null) {
      const res = await call("GET", `/api/v1/tenant/${tenant}/scope-report?limit=1${next ? `&cursor=${next}` : ""}`, { token });
      paged.push(...((await res.json()) as typeof report).keys.map((k) => k.key_id));
      next = res.headers.get("x-next-cursor");
    }
    expect(paged).toEqual([idle.id, ci.id]);

    // Narrowing: a rotation to the exercised scopes, the old key working through the grace period.
    const narrowed = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${ci.id}/narrow`, {
      token,
      body: { grace_period_seconds: 600 },
    });
    expect(narrowed.status).toBe(201);
    const replacement = (await narrowed.json()) as { id: string; api_key: string; scopes: string[]; rotated_from: string };
    expect(replacement).toMatchObject({ scopes: ["api:read", "deploy:production"], rotated_from: ci.id });
    expect((await call("GET", "/api/v1/resources/widgets", { token: ci.api_key })).status).toBe(200);
    await expectError(await call("POST", "/api/v1/resources/widgets", { token: replacement.api_key, body: {} }), 403, "insufficient_scope");
    const audit = await env.DB.prepare("SELECT action, target_key_id FROM audit_log WHERE tenant_id = ? AND action = 'narrow'")
      .bind(tenant)
      .all();
    expect(audit.results).toEqual([{ action: "narrow", target_key_id: ci.id }]);

    // Narrowing to nothing is refused, and changes nothing.
    const refused = await expectError(
      await call("POST", `/api/v1/tenant/${tenant}/api-keys/${idle.id}/narrow`, { token }),
      409,
      "conflict",
    );
    expect(refused.error_description).toContain("none of its scopes in the last 30 days");
    const idleRow = await env.DB.prepare("SELECT replaced_by, revoked FROM api_keys WHERE id = ?").bind(idle.id).first();
    expect(idleRow).toEqual({ replaced_by: null, revoked: 0 });
  }, 120_000);

  it("the window decides: use older than `days` is not counted", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const key = await createKey(tenant, { scopes: ["api:read", "api:write"] });
    const now = Math.floor(Date.now() / 1000);
    const fortyDaysAgo = now - (now % 86_400) - 40 * 86_400;
    await env.DB.prepare("INSERT INTO scope_usage (tenant_id, key_id, scope, day, count, last_at) VALUES (?, ?, 'api:write', ?, 7, ?)")
      .bind(tenant, key.id, fortyDaysAgo, fortyDaysAgo + 60)
      .run();
    const read = async (days: number) =>
      (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}/scope-usage?days=${days}`, { token })).json()) as ScopeUsage;
    expect((await read(30)).scopes.find((s) => s.scope === "api:write")).toMatchObject({ exercised: false, count: 0 });
    expect((await read(41)).scopes.find((s) => s.scope === "api:write")).toMatchObject({
      exercised: true,
      count: 7,
      last_exercised: fortyDaysAgo + 60,
    });
    await expectError(
      await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}/scope-usage?days=0`, { token }),
      400,
      "invalid_request",
    );
  });

  it("admin:all records the scope the rule asked for; a management key records the management scope that let it in", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const root = await createKey(tenant, { scopes: ["admin:all"] });
    await requests(root.api_key, "GET", "/api/v1/resources/x", 2);
    expect((await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: root.api_key })).status).toBe(200);
    expect(
      await eventually(
        () => recordedCount(root.id),
        (n) => n === 3,
        ROLLUP_TIMEOUT_MS,
      ),
    ).toBe(3);
    const usage = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${root.id}/scope-usage`, { token })).json()) as ScopeUsage;
    expect(usage.scopes).toEqual([
      { scope: "admin:all", exercised: true, count: 3, last_exercised: expect.any(Number), exercised_as: ["api:read", "keys:read"] },
    ]);
    expect(usage.exercised_scopes).toEqual(["api:read", "keys:read"]);
  }, 90_000);
});

describe("scope_usage retention", () => {
  it("keeps a year of days (the longest window), prunes what is older", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Math.floor(Date.now() / 1000);
    const today = now - (now % 86_400);
    for (const age of [300, 364, 367, 400]) {
      await env.DB.prepare("INSERT INTO scope_usage (tenant_id, key_id, scope, day, count, last_at) VALUES (?, ?, 'api:read', ?, 1, ?)")
        .bind(tenant, keyId, today - age * 86_400, today - age * 86_400)
        .run();
    }
    await pruneUsage(env.DB, usageConfig(env as Env), now);
    const { results } = await env.DB.prepare("SELECT day FROM scope_usage WHERE key_id = ? ORDER BY day DESC")
      .bind(keyId)
      .all<{ day: number }>();
    expect(results.map((r) => (today - r.day) / 86_400)).toEqual([300, 364]);
  });
});

describe("wildcard scopes", () => {
  it("a catalog prefix wildcard is accepted, satisfies the scopes under it and nothing else", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { scopes: ["deploy:*"] });
    expect((await call("POST", "/deploy", { token: key.api_key, body: {} })).status).toBe(200);
    await expectError(await call("GET", "/api/v1/resources/x", { token: key.api_key }), 403, "insufficient_scope");
  });

  it("a wildcard over no catalog scope, or a bare *, is an unknown scope", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    for (const scope of ["nothing:*", "*", "deploy:production:*"]) {
      const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: { name: "w", scopes: [scope] } });
      const body = await expectError(res, 400, "invalid_request");
      expect(body.error_description).toContain("unknown scope");
    }
  });

  it("lifetime policy applies as if the key held every scope the wildcard covers", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token,
      body: { name: "w", scopes: ["deploy:*"], expires_in_days: 365 },
    });
    const body = await expectError(res, 400, "invalid_request");
    expect(body.error_description).toContain("deploy:production (through deploy:*)");
  });

  it("a management key grants a wildcard only if it holds it (or admin:all), and grants the scopes under one it holds", async () => {
    const tenant = freshTenant();
    const create = (token: string, scopes: string[]) =>
      call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: { name: "g", scopes, expires_in_days: 30 } });
    const narrow = await createKey(tenant, { scopes: ["keys:manage", "deploy:production", "deploy:staging"] });
    const refused = await expectError(await create(narrow.api_key, ["deploy:*"]), 403, "access_denied");
    expect(refused.error_description).toContain("deploy:*");
    const wide = await createKey(tenant, { scopes: ["keys:manage", "deploy:*"] });
    expect((await create(wide.api_key, ["deploy:*"])).status).toBe(201);
    expect((await create(wide.api_key, ["deploy:staging"])).status).toBe(201);
    await expectError(await create(wide.api_key, ["api:read"]), 403, "access_denied");
    const root = await createKey(tenant, { scopes: ["admin:all"] });
    expect((await create(root.api_key, ["deploy:*"])).status).toBe(201);
  });
});
