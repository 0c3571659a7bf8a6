import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

describe("GET .../api-keys/list", () => {
  it("returns the seed's array, newest first, without api_key", async () => {
    const tenant = freshTenant();
    const first = await createKey(tenant, { name: "CI/CD Pipeline Key", scopes: ["api:read", "api:write", "deploy:production"] });
    const second = await createKey(tenant, { name: "Development Key", scopes: ["api:read"] });
    const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: await userToken({ tenants: [tenant] }) });
    expect(res.status).toBe(200);
    const list = (await res.json()) as Record<string, unknown>[];
    expect(list.map((k) => k.id)).toEqual([second.id, first.id]);
    for (const key of list) {
      expect(Object.keys(key)).toEqual(["id", "name", "scopes", "created_at", "expires_at", "last_used", "revoked"]);
    }
    expect(list[1]).toEqual({
      id: first.id,
      name: "CI/CD Pipeline Key",
      scopes: ["api:read", "api:write", "deploy:production"],
      created_at: first.created_at,
      expires_at: first.expires_at,
      last_used: null,
      revoked: false,
    });
    expect(res.headers.get("link")).toBeNull();
  });

  it("returns [] for a tenant without keys", async () => {
    const tenant = freshTenant();
    const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: await userToken({ tenants: [tenant] }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
  });

  it("pages with limit and cursor through Link and X-Next-Cursor, losing nothing", async () => {
    const tenant = freshTenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.unshift((await createKey(tenant, { name: `k${i}` })).id);
    const token = await userToken({ tenants: [tenant] });
    const seen: string[] = [];
    let path: string | null = `/api/v1/tenant/${tenant}/api-keys/list?limit=2`;
    let pages = 0;
    while (path) {
      const res = await call("GET", path, { token });
      expect(res.status).toBe(200);
      seen.push(...((await res.json()) as { id: string }[]).map((k) => k.id));
      const cursor = res.headers.get("x-next-cursor");
      const link = res.headers.get("link");
      if (cursor) expect(link).toMatch(/rel="next"$/);
      path = cursor ? `/api/v1/tenant/${tenant}/api-keys/list?limit=2&cursor=${cursor}` : null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it("refuses bad limits and cursors with 400", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    for (const query of [
      "limit=0",
      "limit=1001",
      "limit=abc",
      "limit=-1",
      "limit=1.5",
      "cursor=garbage",
      "cursor=djE6LTE",
      "status=deleted",
      "unused_days=x",
    ]) {
      await expectError(await call("GET", `/api/v1/tenant/${tenant}/api-keys/list?${query}`, { token }), 400, "invalid_request");
    }
  });
});

describe("GET .../api-keys/{id}", () => {
  it("returns one key's metadata", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { name: "one" });
    const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token: await userToken({ tenants: [tenant] }) });
    expect(res.status).toBe(200);
    const { api_key, ...rest } = key;
    expect(api_key).toBeTruthy();
    expect(await res.json()).toEqual(rest);
  });

  it("is 404 for unknown and malformed ids", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    for (const id of ["key-00000000-0000-4000-8000-000000000000", "nope", "x".repeat(300)]) {
      const err = await expectError(await call("GET", `/api/v1/tenant/${tenant}/api-keys/${id}`, { token }), 404, "not_found");
      expect(err.error_description).toBe("API key not found");
    }
  });

  it("answers DELETE with 405 pointing at revoke", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const res = await call("DELETE", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token: await userToken({ tenants: [tenant] }) });
    const err = await expectError(res, 405, "method_not_allowed");
    expect(err.error_description).toMatch(/revoke/);
    expect(res.headers.get("allow")).toBe("GET, PATCH");
  });
});

describe("POST .../api-keys/{id}/revoke", () => {
  it("returns the seed's body and records who and when in D1", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, {
      token: await userToken({ tenants: [tenant], sub: "alice" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, message: "API key revoked successfully" });
    const row = await env.DB.prepare("SELECT revoked, revoked_at, revoked_by FROM api_keys WHERE id = ?").bind(key.id).first();
    expect(row).toMatchObject({ revoked: 1, revoked_by: "user:alice" });
    expect(row?.revoked_at).toEqual(expect.any(Number));
  });

  it("writes the key's revocation entry to KV, expiring with the key", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { expires_in_days: 7 });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const entry = await env.EDGE_RECORDS.getWithMetadata<{ state: string; at: number }>(`key-state:${key.id}`, "json");
    expect(entry.value).toEqual({ state: "revoked", at: expect.any(Number) });
    const listed = await env.EDGE_RECORDS.list({ prefix: `key-state:${key.id}` });
    expect(listed.keys[0]?.expiration).toBe(key.expires_at);
  });

  it("shows revoked: true in list and get, and is idempotent", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const token = await userToken({ tenants: [tenant] });
    const path = `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`;
    expect((await call("POST", path, { token })).status).toBe(200);
    const firstAt = (await env.DB.prepare("SELECT revoked_at FROM api_keys WHERE id = ?").bind(key.id).first())?.revoked_at;
    expect((await call("POST", path, { token })).status).toBe(200);
    const again = await env.DB.prepare("SELECT revoked_at FROM api_keys WHERE id = ?").bind(key.id).first();
    expect(again?.revoked_at).toBe(firstAt);
    const got = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token })).json()) as Record<string, unknown>;
    expect(got.revoked).toBe(true);
    expect(got.revoked_at).toBe(firstAt);
    const list = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token })).json()) as Record<string, unknown>[];
    expect(list[0]?.revoked).toBe(true);
  });

  it("accepts an optional JSON reason and refuses junk bodies", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const token = await userToken({ tenants: [tenant] });
    const path = `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`;
    await expectError(await call("POST", path, { token, body: { reason: 5 } }), 400, "invalid_request");
    await expectError(await call("POST", path, { token, body: { because: "x" } }), 400, "invalid_request");
    await expectError(
      await call("POST", path, { token, rawBody: "{oops", headers: { "content-type": "application/json" } }),
      400,
      "invalid_request",
    );
    expect((await env.DB.prepare("SELECT revoked FROM api_keys WHERE id = ?").bind(key.id).first())?.revoked).toBe(0);
    expect((await call("POST", path, { token, body: { reason: "leaked in a build log" } })).status).toBe(200);
    expect((await env.DB.prepare("SELECT revoke_reason FROM api_keys WHERE id = ?").bind(key.id).first())?.revoke_reason).toBe(
      "leaked in a build log",
    );
  });

  it("is 404 for an unknown key and writes nothing to KV", async () => {
    const tenant = freshTenant();
    const id = "key-00000000-0000-4000-8000-000000000001";
    await expectError(
      await call("POST", `/api/v1/tenant/${tenant}/api-keys/${id}/revoke`, { token: await userToken({ tenants: [tenant] }) }),
      404,
      "not_found",
    );
    expect(await env.EDGE_RECORDS.get(`key-state:${id}`)).toBeNull();
  });
});

describe("GET /api/v1/scopes", () => {
  it("serves the scope catalog with descriptions", async () => {
    const res = await call("GET", "/api/v1/scopes");
    expect(res.status).toBe(200);
    const catalog = (await res.json()) as Record<string, string>;
    expect(catalog["api:read"]).toBe("Read API resources");
    expect(catalog["admin:all"]).toBe("Full administrative access");
    expect(catalog["keys:manage"]).toEqual(expect.any(String));
    expect(catalog["keys:introspect"]).toEqual(expect.any(String));
    expect(catalog["keys:read"]).toEqual(expect.any(String));
    expect(Object.keys(catalog)).toHaveLength(12);
  });
});

describe("public control-plane endpoints", () => {
  it("answer other methods with 405 and Allow: GET", async () => {
    for (const path of ["/.well-known/jwks.json", "/api/v1/scopes", "/_keygate/health"]) {
      const res = await call("POST", path);
      await expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe("GET");
    }
  });

  it("serve HEAD like GET", async () => {
    const res = await call("HEAD", "/_keygate/health");
    expect(res.status).toBe(200);
  });
});
