import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildSnapshot, snapshotRecord } from "../helpers/edge";
import { call, createKey, decodeJwtPart, expectError, freshTenant, userToken } from "../helpers/worker";

afterEach(() => {
  vi.useRealTimers();
});

async function rotate(tenant: string, id: string, body?: unknown, token?: string) {
  return call("POST", `/api/v1/tenant/${tenant}/api-keys/${id}/rotate`, { token: token ?? (await userToken({ tenants: [tenant] })), body });
}

describe("POST .../api-keys/{id}/rotate", () => {
  it("returns a new key that inherits name, scopes, lifetime and subject, linked both ways", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant, { name: "deploy bot", scopes: ["api:read", "deploy:staging"], expires_in_days: 30 });
    const res = await rotate(tenant, old.id, undefined, await userToken({ tenants: [tenant], sub: "someone-else" }));
    expect(res.status).toBe(201);
    const fresh = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(fresh)).toEqual([
      "id",
      "name",
      "api_key",
      "scopes",
      "created_at",
      "expires_at",
      "last_used",
      "revoked",
      "rotated_from",
    ]);
    expect(fresh).toMatchObject({
      name: "deploy bot",
      scopes: ["api:read", "deploy:staging"],
      rotated_from: old.id,
      revoked: false,
      last_used: null,
    });
    expect(fresh.expires_at).toBe((fresh.created_at as number) + 30 * 86_400);
    expect(decodeJwtPart(fresh.api_key as string, 1).sub).toBe("user-123");

    const token = await userToken({ tenants: [tenant] });
    const oldView = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${old.id}`, { token })).json()) as Record<string, unknown>;
    expect(oldView.replaced_by).toBe(fresh.id);
    expect(oldView.grace_period_ends_at).toBe((fresh.created_at as number) + 86_400);
    const newView = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${fresh.id}`, { token })).json()) as Record<
      string,
      unknown
    >;
    expect(newView.rotated_from).toBe(old.id);
  });

  it("takes name, scopes and expires_in_days overrides", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant);
    const res = await rotate(tenant, old.id, { name: "v2", scopes: ["api:write"], expires_in_days: 0, grace_period_seconds: 60 });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: "v2", scopes: ["api:write"], expires_at: null });
  });

  it("keeps the old key working through the grace period, then the gateway refuses it as rotated", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant);
    const res = await rotate(tenant, old.id, { grace_period_seconds: 3600 });
    const fresh = (await res.json()) as { api_key: string };
    expect((await call("GET", "/api/v1/resources", { token: old.api_key })).status).toBe(200);
    expect((await call("GET", "/api/v1/resources", { token: fresh.api_key })).status).toBe(200);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 3601 * 1000);
    const body = await expectError(await call("GET", "/api/v1/resources", { token: old.api_key }), 401, "invalid_token");
    expect(body.error_description).toBe("API key has been rotated and its grace period has ended");
    expect((await call("GET", "/api/v1/resources", { token: fresh.api_key })).status).toBe(200);
  });

  it("with grace_period_seconds 0 refuses the old key at once", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant);
    expect((await rotate(tenant, old.id, { grace_period_seconds: 0 })).status).toBe(201);
    const body = await expectError(await call("GET", "/api/v1/resources", { token: old.api_key }), 401, "invalid_token");
    expect(body.error_description).toMatch(/rotated/);
  });

  it("writes the cut-off to D1, and the next snapshot holds it", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant, { expires_in_days: 10 });
    await rotate(tenant, old.id, { grace_period_seconds: 120 });
    const row = await env.DB.prepare("SELECT rotation_cutoff_at, replaced_by FROM api_keys WHERE id = ?")
      .bind(old.id)
      .first<{ rotation_cutoff_at: number }>();
    await buildSnapshot();
    expect(await snapshotRecord(old.id)).toEqual({ state: "rotated", at: row?.rotation_cutoff_at });
  });

  it("refuses to rotate a revoked or already rotated key (409) and changes nothing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const revoked = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token });
    await expectError(await rotate(tenant, revoked.id), 409, "conflict");
    const once = await createKey(tenant);
    expect((await rotate(tenant, once.id)).status).toBe(201);
    const count = (await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?").bind(tenant).first<{ n: number }>())?.n;
    await expectError(await rotate(tenant, once.id), 409, "conflict");
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?").bind(tenant).first<{ n: number }>())?.n).toBe(
      count,
    );
  });

  it("lets exactly one of two concurrent rotations win", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant);
    const results = await Promise.all([rotate(tenant, old.id), rotate(tenant, old.id)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const { results: rows } = await env.DB.prepare("SELECT id FROM api_keys WHERE rotated_from = ?").bind(old.id).all();
    expect(rows).toHaveLength(1);
  });

  it("validates its body", async () => {
    const tenant = freshTenant();
    const old = await createKey(tenant);
    for (const body of [
      { grace_period_seconds: -1 },
      { grace_period_seconds: 30 * 86_400 + 1 },
      { grace_period_seconds: "1h" },
      { scopes: ["nope"] },
      { bogus: 1 },
    ]) {
      await expectError(await rotate(tenant, old.id, body), 400, "invalid_request");
    }
    expect((await env.DB.prepare("SELECT replaced_by FROM api_keys WHERE id = ?").bind(old.id).first())?.replaced_by).toBeNull();
  });
});

describe("PATCH .../api-keys/{id}", () => {
  it("changes name and metadata, returned by get and list", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const token = await userToken({ tenants: [tenant] });
    const res = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, {
      token,
      body: { name: "renamed", metadata: { team: "infra", pipeline: 42 } },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: key.id, name: "renamed", metadata: { team: "infra", pipeline: 42 } });
    const list = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token })).json()) as Record<string, unknown>[];
    expect(list[0]).toMatchObject({ name: "renamed", metadata: { team: "infra", pipeline: 42 } });
    const cleared = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { metadata: null } });
    expect(await cleared.json()).not.toHaveProperty("metadata");
  });

  it("refuses to widen scopes in place, oversized metadata, and empty patches", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const token = await userToken({ tenants: [tenant] });
    const path = `/api/v1/tenant/${tenant}/api-keys/${key.id}`;
    const scopes = await expectError(await call("PATCH", path, { token, body: { scopes: ["admin:all"] } }), 400, "invalid_request");
    expect(scopes.error_description).toMatch(/rotate/);
    await expectError(await call("PATCH", path, { token, body: { metadata: { blob: "x".repeat(1100) } } }), 400, "invalid_request");
    await expectError(await call("PATCH", path, { token, body: { metadata: ["not", "an", "object"] } }), 400, "invalid_request");
    await expectError(await call("PATCH", path, { token, body: {} }), 400, "invalid_request");
    const row = await env.DB.prepare("SELECT name, scopes, metadata FROM api_keys WHERE id = ?").bind(key.id).first();
    expect(row).toEqual({ name: "test key", scopes: '["api:read"]', metadata: null });
  });
});
