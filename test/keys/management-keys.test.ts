import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { auditRows, call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

afterEach(() => {
  vi.useRealTimers();
});

describe("management keys (keys:manage or admin:all)", () => {
  it("may create, list, get, update, rotate and revoke keys of their own tenant", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { name: "rotator", scopes: ["keys:manage", "api:read", "api:write"], expires_in_days: 0 });
    const token = manager.api_key;
    const base = `/api/v1/tenant/${tenant}/api-keys`;
    const created = await call("POST", `${base}/create`, { token, body: { name: "ci", scopes: ["api:read"], expires_in_days: 30 } });
    expect(created.status).toBe(201);
    const child = (await created.json()) as { id: string };
    expect((await call("GET", `${base}/list`, { token })).status).toBe(200);
    expect((await call("GET", `${base}/${child.id}`, { token })).status).toBe(200);
    expect((await call("PATCH", `${base}/${child.id}`, { token, body: { name: "ci v1" } })).status).toBe(200);
    const rotated = await call("POST", `${base}/${child.id}/rotate`, { token, body: { grace_period_seconds: 0 } });
    expect(rotated.status).toBe(201);
    const next = (await rotated.json()) as { id: string };
    expect((await call("POST", `${base}/${next.id}/revoke`, { token })).status).toBe(200);
    const audit = await auditRows(tenant);
    expect(audit.filter((r) => r.actor_kind === "key").map((r) => [r.action, r.actor_id])).toEqual([
      ["create", manager.id],
      ["update", manager.id],
      ["rotate", manager.id],
      ["revoke", manager.id],
    ]);
    const row = await env.DB.prepare("SELECT created_by, subject FROM api_keys WHERE id = ?").bind(child.id).first();
    expect(row).toEqual({ created_by: `key:${manager.id}`, subject: "user-123" });
  });

  it("cannot reach another tenant", async () => {
    const tenant = freshTenant();
    const other = freshTenant();
    const manager = await createKey(tenant, { scopes: ["admin:all"] });
    await expectError(await call("GET", `/api/v1/tenant/${other}/api-keys/list`, { token: manager.api_key }), 403, "access_denied");
  });

  it("cannot grant scopes it does not hold (refused and audited)", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage", "api:read"], expires_in_days: 0 });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token: manager.api_key,
      body: { name: "escalate", scopes: ["api:read", "admin:all"], expires_in_days: 1 },
    });
    const err = await expectError(res, 403, "access_denied");
    expect(err.error_description).toMatch(/admin:all/);
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?").bind(tenant).first<{ n: number }>())?.n).toBe(1);
    const audit = await auditRows(tenant);
    expect(audit.at(-1)).toMatchObject({
      action: "create",
      actor_kind: "key",
      actor_id: manager.id,
      outcome: "denied",
      status: 403,
      error: "access_denied",
    });
  });

  it("cannot rotate a wider key into its own hands", async () => {
    const tenant = freshTenant();
    const wide = await createKey(tenant, { scopes: ["deploy:production"] });
    const manager = await createKey(tenant, { scopes: ["keys:manage"], expires_in_days: 0 });
    await expectError(
      await call("POST", `/api/v1/tenant/${tenant}/api-keys/${wide.id}/rotate`, { token: manager.api_key }),
      403,
      "access_denied",
    );
    expect((await env.DB.prepare("SELECT replaced_by FROM api_keys WHERE id = ?").bind(wide.id).first())?.replaced_by).toBeNull();
  });

  it("cannot create a key that outlives itself", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage", "api:read"], expires_in_days: 30 });
    const base = `/api/v1/tenant/${tenant}/api-keys/create`;
    const longer = await call("POST", base, { token: manager.api_key, body: { name: "x", scopes: ["api:read"], expires_in_days: 31 } });
    expect((await expectError(longer, 403, "access_denied")).error_description).toMatch(/outlives/);
    const forever = await call("POST", base, { token: manager.api_key, body: { name: "x", scopes: ["api:read"], expires_in_days: 0 } });
    await expectError(forever, 403, "access_denied");
    const ok = await call("POST", base, { token: manager.api_key, body: { name: "x", scopes: ["api:read"], expires_in_days: 30 } });
    expect(ok.status).toBe(201);
  });

  it("admin:all may grant any scope", async () => {
    const tenant = freshTenant();
    const admin = await createKey(tenant, { scopes: ["admin:all"], expires_in_days: 0 });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token: admin.api_key,
      body: { name: "x", scopes: ["billing:manage", "users:manage"], expires_in_days: 5 },
    });
    expect(res.status).toBe(201);
  });

  it("stops working for management once revoked, rotated past its cut-off, or expired (checked against D1)", async () => {
    const tenant = freshTenant();
    const user = await userToken({ tenants: [tenant] });
    const list = `/api/v1/tenant/${tenant}/api-keys/list`;

    const revoked = await createKey(tenant, { scopes: ["keys:manage"] });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token: user });
    expect((await expectError(await call("GET", list, { token: revoked.api_key }), 401, "invalid_token")).error_description).toBe(
      "API key has been revoked",
    );

    const rotated = await createKey(tenant, { scopes: ["keys:manage"] });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${rotated.id}/rotate`, { token: user, body: { grace_period_seconds: 60 } });
    expect((await call("GET", list, { token: rotated.api_key })).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    expect((await expectError(await call("GET", list, { token: rotated.api_key }), 401, "invalid_token")).error_description).toMatch(
      /rotated/,
    );

    vi.setSystemTime(Date.now() + 31 * 86_400_000);
    const expiring = await createKey(tenant, { scopes: ["keys:manage"], expires_in_days: 1 });
    vi.setSystemTime(Date.now() + 2 * 86_400_000);
    expect((await expectError(await call("GET", list, { token: expiring.api_key }), 401, "invalid_token")).error_description).toBe(
      "API key has expired",
    );
  });
});

describe("list filters for unused and revoked keys", () => {
  it("?status= and ?unused_days= select the right keys", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const active = await createKey(tenant, { name: "active" });
    const revoked = await createKey(tenant, { name: "revoked" });
    const used = await createKey(tenant, { name: "used" });
    const stale = await createKey(tenant, { name: "stale" });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token });
    await call("GET", "/api/v1/resources", { token: used.api_key });
    const now = Math.floor(Date.now() / 1000);
    await env.DB.prepare("UPDATE api_keys SET last_used = ? WHERE id = ?")
      .bind(now - 40 * 86_400, stale.id)
      .run();
    await env.DB.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
      .bind(now - 10, active.id)
      .run();

    const names = async (query: string) =>
      ((await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/list?${query}`, { token })).json()) as { name: string }[])
        .map((k) => k.name)
        .sort();
    expect(await names("status=revoked")).toEqual(["revoked"]);
    expect(await names("status=expired")).toEqual(["active"]);
    expect(await names("status=active")).toEqual(["stale", "used"]);
    expect(await names("unused_days=30")).toEqual(["active", "revoked", "stale"]);
    expect(await names("unused_days=30&status=active")).toEqual(["stale"]);
  });
});

describe("management key usage", () => {
  it("counts as use: last_used is set, so unused-key sweeps spare the rotation bot", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage"], expires_in_days: 0 });
    expect((await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: manager.api_key })).status).toBe(200);
    const row = await env.DB.prepare("SELECT last_used FROM api_keys WHERE id = ?").bind(manager.id).first<{ last_used: number | null }>();
    expect(row?.last_used).toEqual(expect.any(Number));
    const unused = (await (
      await call("GET", `/api/v1/tenant/${tenant}/api-keys/list?unused_days=1`, { token: await userToken({ tenants: [tenant] }) })
    ).json()) as unknown[];
    expect(unused).toEqual([]);
  });
});
