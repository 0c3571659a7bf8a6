/**
 * Key metadata: a JSON object of at most 1 KB on create and PATCH, inherited by a rotation, in the
 * views and the list; with FORWARD_KEY_META the origin receives it as X-Keygate-Meta (base64url JSON).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

interface Echo {
  headers: Record<string, string>;
}

const FORWARD = { FORWARD_KEY_META: "true" };

function decodeMeta(value: string): unknown {
  const bin = atob(value.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

describe("key metadata", () => {
  it("is set on create, shown in views and the list, inherited by a rotation, changed by PATCH", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const meta = { team: "payments", owner: "ana@example.com", cost_center: 42, tags: ["ci", "prod"] };
    const created = await createKey(tenant, { metadata: meta });
    expect(created).toMatchObject({ metadata: meta });
    expect(await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${created.id}`, { token })).json()).toMatchObject({
      metadata: meta,
    });
    const list = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token })).json()) as { metadata?: unknown }[];
    expect(list[0]?.metadata).toEqual(meta);

    const rotated = (await (await call("POST", `/api/v1/tenant/${tenant}/api-keys/${created.id}/rotate`, { token })).json()) as {
      id: string;
      metadata?: unknown;
    };
    expect(rotated.metadata).toEqual(meta);

    const patched = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${rotated.id}`, {
      token,
      body: { metadata: { team: "search" } },
    });
    expect(await patched.json()).toMatchObject({ metadata: { team: "search" } });
    const cleared = (await (
      await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${rotated.id}`, { token, body: { metadata: {} } })
    ).json()) as Record<string, unknown>;
    expect(cleared).not.toHaveProperty("metadata");
    const row = await env.DB.prepare("SELECT metadata FROM api_keys WHERE id = ?").bind(rotated.id).first();
    expect(row).toEqual({ metadata: null });
  });

  it("refuses more than 1 KB, or anything but an object, naming the field, and stores nothing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    for (const metadata of [{ blob: "x".repeat(1100) }, ["a"], "text"]) {
      const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
        token,
        body: { name: "m", scopes: ["api:read"], metadata },
      });
      const body = await expectError(res, 400, "invalid_request");
      expect(body.error_description).toContain("metadata");
    }
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?").bind(tenant).first<{ n: number }>();
    expect(count?.n).toBe(0);
  });

  it("reaches the origin as X-Keygate-Meta only with FORWARD_KEY_META, and a PATCH is forwarded from the next request", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const meta = { team: "payments", note: "naïve ✓" };
    const key = await createKey(tenant, { scopes: ["api:read"], metadata: meta });
    const off = (await (await call("GET", "/api/v1/resources/a", { token: key.api_key })).json()) as Echo;
    expect(off.headers["x-keygate-meta"]).toBeUndefined();
    const on = (await (await call("GET", "/api/v1/resources/a", { token: key.api_key, env: FORWARD })).json()) as Echo;
    expect(on.headers["x-keygate-meta"]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeMeta(on.headers["x-keygate-meta"] as string)).toEqual(meta);

    await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { metadata: { team: "search" } } });
    const after = (await (await call("GET", "/api/v1/resources/a", { token: key.api_key, env: FORWARD })).json()) as Echo;
    expect(decodeMeta(after.headers["x-keygate-meta"] as string)).toEqual({ team: "search" });
    // The KV edge record carries it, for isolates that have not seen the key.
    const record = (await env.EDGE_RECORDS.get(`key-state:${key.id}`, "json")) as { meta?: string } | null;
    expect(decodeMeta(record?.meta as string)).toEqual({ team: "search" });
  });

  it("a client's own X-Keygate-Meta never reaches the origin", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { scopes: ["api:read"] });
    const res = await call("GET", "/api/v1/resources/a", {
      token: key.api_key,
      env: FORWARD,
      headers: { "x-keygate-meta": "eyJhZG1pbiI6dHJ1ZX0", X_Keygate_Meta: "x" },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.headers["x-keygate-meta"]).toBeUndefined();
    expect(echo.headers.x_keygate_meta).toBeUndefined();
  });
});
