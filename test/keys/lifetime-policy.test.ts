/**
 * SCOPE_MAX_LIFETIME_DAYS: create and rotate refuse a key holding a limited scope (directly or
 * through admin:all) that would outlive the scope's maximum or never expire, with a 400 naming the
 * scope and its maximum; nothing is stored then.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, countKeys, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

async function create(tenant: string, body: Record<string, unknown>, overrides?: Record<string, unknown>) {
  return call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
    token: await userToken({ tenants: [tenant] }),
    body: { name: "k", ...body },
    env: overrides,
  });
}

async function rotate(tenant: string, id: string, body: Record<string, unknown>, token?: string) {
  return call("POST", `/api/v1/tenant/${tenant}/api-keys/${id}/rotate`, { token: token ?? (await userToken({ tenants: [tenant] })), body });
}

/** A deployment whose policy is off: keys created before the policy existed. */
const NO_POLICY = { SCOPE_MAX_LIFETIME_DAYS: {} };

describe("the lifetime policy (default: deploy:production at most 90 days)", () => {
  it("refuses a longer or non-expiring deploy:production key on create, naming the scope and its maximum", async () => {
    const tenant = freshTenant();
    for (const days of [91, 3650, 0]) {
      const err = await expectError(
        await create(tenant, { scopes: ["api:read", "deploy:production"], expires_in_days: days }),
        400,
        "invalid_request",
      );
      expect(err.error_description).toBe(
        "expires_in_days must be 1 to 90: a key holding deploy:production may live at most 90 days (SCOPE_MAX_LIFETIME_DAYS), and cannot be non-expiring",
      );
    }
    expect(await countKeys(tenant)).toBe(0);
    expect((await create(tenant, { scopes: ["deploy:production"], expires_in_days: 90 })).status).toBe(201);
    // Omitted means 90 days: within the limit.
    expect((await create(tenant, { scopes: ["deploy:production"] })).status).toBe(201);
    expect(await countKeys(tenant)).toBe(2);
  });

  it("applies to admin:all keys, which pass every deploy:production rule", async () => {
    const tenant = freshTenant();
    const err = await expectError(await create(tenant, { scopes: ["admin:all"], expires_in_days: 0 }), 400, "invalid_request");
    expect(err.error_description).toMatch(/^expires_in_days must be 1 to 90: a key holding deploy:production \(through admin:all\)/);
    expect((await create(tenant, { scopes: ["admin:all"], expires_in_days: 60 })).status).toBe(201);
  });

  it("leaves other scopes alone", async () => {
    const tenant = freshTenant();
    expect((await create(tenant, { scopes: ["api:read", "deploy:staging"], expires_in_days: 0 })).status).toBe(201);
    expect((await create(tenant, { scopes: ["api:write"], expires_in_days: 3650 })).status).toBe(201);
  });

  it("refuses a rotation that inherits or asks for a lifetime past the limit, and takes one within it", async () => {
    const tenant = freshTenant();
    // A key from before the policy: made while it was off.
    const created = await create(tenant, { scopes: ["deploy:production"], expires_in_days: 0 }, NO_POLICY);
    expect(created.status).toBe(201);
    const old = (await created.json()) as { id: string };

    const inherited = await expectError(await rotate(tenant, old.id, {}), 400, "invalid_request");
    expect(inherited.error_description).toMatch(/deploy:production may live at most 90 days/);
    await expectError(await rotate(tenant, old.id, { expires_in_days: 120 }), 400, "invalid_request");
    // Widening the scopes of a non-expiring key into a limited one is refused too.
    const plain = await createKey(tenant, { scopes: ["api:read"], expires_in_days: 0 });
    await expectError(await rotate(tenant, plain.id, { scopes: ["deploy:production"] }), 400, "invalid_request");
    const row = await env.DB.prepare("SELECT replaced_by FROM api_keys WHERE id = ?").bind(old.id).first();
    expect(row).toEqual({ replaced_by: null });

    const ok = await rotate(tenant, old.id, { expires_in_days: 30 });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ scopes: ["deploy:production"], rotated_from: old.id });
  });

  it("lets an expiring management key holding deploy:production rotate itself to the same lifetime", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage", "deploy:production"], expires_in_days: 90 });
    const res = await rotate(tenant, manager.id, { grace_period_seconds: 60 }, manager.api_key);
    expect(res.status).toBe(201);
    const next = (await res.json()) as { created_at: number; expires_at: number; scopes: string[] };
    expect(next.expires_at - next.created_at).toBe(90 * 86_400);
    expect(next.scopes).toEqual(["keys:manage", "deploy:production"]);
  });

  it("takes the deployment's own policy (JSON or TOML table); the strictest limit wins", async () => {
    const tenant = freshTenant();
    const policy = { SCOPE_MAX_LIFETIME_DAYS: JSON.stringify({ "deploy:production": 30, "api:write": 7 }) };
    const err = await expectError(
      await create(tenant, { scopes: ["api:write", "deploy:production"], expires_in_days: 8 }, policy),
      400,
      "invalid_request",
    );
    expect(err.error_description).toMatch(/^expires_in_days must be 1 to 7: a key holding api:write may live at most 7 days/);
    expect((await create(tenant, { scopes: ["api:write", "deploy:production"], expires_in_days: 7 }, policy)).status).toBe(201);
    const table = { SCOPE_MAX_LIFETIME_DAYS: { "deploy:staging": 14 } };
    await expectError(await create(tenant, { scopes: ["deploy:staging"], expires_in_days: 15 }, table), 400, "invalid_request");
    // An empty policy limits nothing.
    expect((await create(tenant, { scopes: ["deploy:production"], expires_in_days: 0 }, NO_POLICY)).status).toBe(201);
  });

  it("treats a broken policy as a misconfiguration (500, details in the log), not as no policy", async () => {
    const tenant = freshTenant();
    for (const broken of [{ "no:such-scope": 10 }, { "deploy:production": 0 }, { "deploy:production": "90" }, "[1]", "{"]) {
      const res = await create(tenant, { scopes: ["api:read"], expires_in_days: 1 }, { SCOPE_MAX_LIFETIME_DAYS: broken });
      await expectError(res, 500, "server_error");
    }
    expect(await countKeys(tenant)).toBe(0);
  });
});
