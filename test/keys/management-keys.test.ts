import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { auditRows, call, createKey, expectError, freshTenant, usageRecorded, userToken } from "../helpers/worker";

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
    // 29 days: a 30-day key created a second after its 30-day manager would outlive it.
    const ok = await call("POST", base, { token: manager.api_key, body: { name: "x", scopes: ["api:read"], expires_in_days: 29 } });
    expect(ok.status).toBe(201);
  });

  it("admin:all may grant any scope", async () => {
    const tenant = freshTenant();
    const admin = await createKey(tenant, { scopes: ["admin:all"], expires_in_days: 30 });
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
    await usageRecorded(used.id); // last_used comes from the usage roll-up, after the response
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

describe("a management key rotating itself", () => {
  it("may rotate itself to the same scopes and the same lifetime length, and the replacement manages keys", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { name: "rotation bot", scopes: ["keys:manage", "api:read"], expires_in_days: 30 });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${manager.id}/rotate`, {
      token: manager.api_key,
      body: { grace_period_seconds: 3600 },
    });
    expect(res.status).toBe(201);
    const next = (await res.json()) as { id: string; api_key: string; expires_at: number; created_at: number; scopes: string[] };
    expect(next.scopes).toEqual(["keys:manage", "api:read"]);
    expect(next.expires_at - next.created_at).toBe(30 * 86_400);
    // The replacement is a working management key; the old one works through its grace period.
    expect((await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: next.api_key })).status).toBe(200);
    expect((await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: manager.api_key })).status).toBe(200);
    // ... and the replacement can rotate itself in turn.
    const again = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${next.id}/rotate`, { token: next.api_key });
    expect(again.status).toBe(201);
  });

  it("may not lengthen its lifetime, go non-expiring or widen its scopes while rotating itself", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { name: "rotation bot", scopes: ["keys:manage", "api:read"], expires_in_days: 30 });
    const rotate = (body: unknown) =>
      call("POST", `/api/v1/tenant/${tenant}/api-keys/${manager.id}/rotate`, { token: manager.api_key, body });
    const longer = await expectError(await rotate({ expires_in_days: 31 }), 403, "access_denied");
    expect(longer.error_description).toMatch(/lengthen its lifetime/);
    await expectError(await rotate({ expires_in_days: 0 }), 403, "access_denied");
    const wider = await expectError(await rotate({ scopes: ["keys:manage", "api:read", "api:write"] }), 403, "access_denied");
    expect(wider.error_description).toMatch(/api:write/);
    // A shorter lifetime is fine.
    expect((await rotate({ expires_in_days: 7 })).status).toBe(201);
  });

  it("still may not give another key a lifetime past its own expiry", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { name: "bot", scopes: ["keys:manage", "api:read"], expires_in_days: 30 });
    const other = await createKey(tenant, { name: "ci", scopes: ["api:read"], expires_in_days: 10 });
    // Rotating `other` with its own 10 days is fine; 31 days would outlive the bot.
    const base = `/api/v1/tenant/${tenant}/api-keys/${other.id}/rotate`;
    await expectError(await call("POST", base, { token: manager.api_key, body: { expires_in_days: 31 } }), 403, "access_denied");
    expect((await call("POST", base, { token: manager.api_key, body: { expires_in_days: 29 } })).status).toBe(201);
  });
});

describe("a management key with an allowlist grants nothing wider (invariant 11)", () => {
  const FROM = { "cf-connecting-ip": "192.0.2.10" };
  const OWN = ["192.0.2.0/24", "2001:db8:1::/48"];

  async function pinned() {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { name: "pinned", scopes: ["keys:manage", "api:read"], expires_in_days: 0, allowed_ips: OWN });
    const base = `/api/v1/tenant/${tenant}/api-keys`;
    const as = (method: string, path: string, body?: unknown) =>
      call(method, `${base}${path}`, { token: manager.api_key, body, headers: FROM });
    const stored = async (id: string) =>
      (await env.DB.prepare("SELECT allowed_ips FROM api_keys WHERE id = ?").bind(id).first<{ allowed_ips: string | null }>())?.allowed_ips;
    return { tenant, manager, base, as, stored };
  }

  it("a child inherits the holder's allowlist when none is given, and may narrow it", async () => {
    const { as } = await pinned();
    const inherited = await as("POST", "/create", { name: "child", scopes: ["api:read"] });
    expect(((await inherited.json()) as { allowed_ips: string[] }).allowed_ips).toEqual(OWN);
    const narrower = await as("POST", "/create", {
      name: "child",
      scopes: ["api:read"],
      allowed_ips: ["192.0.2.128/25", "2001:db8:1:2::7"],
    });
    expect(((await narrower.json()) as { allowed_ips: string[] }).allowed_ips).toEqual(["192.0.2.128/25", "2001:db8:1:2::7"]);
  });

  it("refuses a child allowlist outside its own, or none, with a 400 naming the field, and creates nothing", async () => {
    const { tenant, as } = await pinned();
    const cases: [unknown, RegExp][] = [
      [["192.0.2.0/25", "198.51.100.0/24"], /^allowed_ips\[1\] "198.51.100.0\/24" is not within this management key's own allowlist/],
      [["192.0.0.0/16"], /^allowed_ips\[0\] "192.0.0.0\/16" is not within/],
      [["2001:db8::/32"], /^allowed_ips\[0\] "2001:db8::\/32" is not within/],
      [["::ffff:192.0.3.1"], /^allowed_ips\[0\] "192.0.3.1" is not within/],
      [[], /^allowed_ips cannot be removed by a management key with an allowlist/],
    ];
    for (const [allowed_ips, message] of cases) {
      const err = await expectError(await as("POST", "/create", { name: "x", scopes: ["api:read"], allowed_ips }), 400, "invalid_request");
      expect(err.error_description, JSON.stringify(allowed_ips)).toMatch(message);
    }
    const { results } = await env.DB.prepare("SELECT name FROM api_keys WHERE tenant_id = ?").bind(tenant).all();
    expect(results).toEqual([{ name: "pinned" }]);
  });

  it("a pinned key cannot widen or clear its own allowlist; it may narrow it; a user may do anything", async () => {
    const { tenant, manager, as, stored } = await pinned();
    const before = await stored(manager.id);
    for (const allowed_ips of [null, [], ["0.0.0.0/0"], [...OWN, "203.0.113.0/24"]]) {
      const res = await as("PATCH", `/${manager.id}`, { allowed_ips });
      const err = await expectError(res, 400, "invalid_request");
      expect(err.error_description).toMatch(/^allowed_ips/);
      expect(await stored(manager.id)).toBe(before);
    }
    expect((await as("PATCH", `/${manager.id}`, { allowed_ips: ["192.0.2.0/28"] })).status).toBe(200);
    expect(JSON.parse((await stored(manager.id)) ?? "null")).toEqual(["192.0.2.0/28"]);
    const user = await userToken({ tenants: [tenant] });
    const cleared = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${manager.id}`, { token: user, body: { allowed_ips: null } });
    expect(cleared.status).toBe(200);
    expect(await stored(manager.id)).toBeNull();
  });

  it("rotation: the replacement keeps an allowlist within the holder's, else takes the holder's; a wider one is refused", async () => {
    const { tenant, manager, as, stored } = await pinned();
    const open = await createKey(tenant, { name: "unpinned" });
    const narrow = await createKey(tenant, { name: "narrow", allowed_ips: ["192.0.2.7"] });
    const fromOpen = (await (await as("POST", `/${open.id}/rotate`, {})).json()) as { allowed_ips: string[] };
    expect(fromOpen.allowed_ips).toEqual(OWN);
    const fromNarrow = (await (await as("POST", `/${narrow.id}/rotate`, {})).json()) as { allowed_ips: string[] };
    expect(fromNarrow.allowed_ips).toEqual(["192.0.2.7"]);
    const other = await createKey(tenant, { name: "other" });
    for (const allowed_ips of [[], ["10.0.0.0/8"]]) {
      await expectError(await as("POST", `/${other.id}/rotate`, { allowed_ips }), 400, "invalid_request");
    }
    const self = await as("POST", `/${manager.id}/rotate`, { allowed_ips: ["198.51.100.1"] });
    expect((await expectError(self, 400, "invalid_request")).error_description).toMatch(/^allowed_ips\[0\]/);
    const row = await env.DB.prepare("SELECT replaced_by FROM api_keys WHERE id = ?").bind(other.id).first();
    expect(row).toEqual({ replaced_by: null });
    expect(await stored(manager.id)).toBe(JSON.stringify(OWN));
    // A user rotating may drop the allowlist.
    const user = await userToken({ tenants: [tenant] });
    const byUser = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${other.id}/rotate`, { token: user, body: { allowed_ips: [] } });
    expect(((await byUser.json()) as { allowed_ips?: string[] }).allowed_ips).toBeUndefined();
  });
});
