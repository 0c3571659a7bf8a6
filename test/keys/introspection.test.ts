/**
 * RFC 7662 introspection: POST /api/v1/introspect answers from D1 (revocation, rotation cut-off,
 * expiry) with the key's metadata, or exactly {"active": false}; a caller sees its own tenants'
 * keys only; the caller's own credential is checked like any management credential.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createKey, expectError, freshTenant, signApiKey, userToken } from "../helpers/worker";

const INTROSPECT = "/api/v1/introspect";
const INACTIVE = { active: false };

/** RFC 7662 §2.1: a form-encoded POST with `token`. */
function introspect(caller: string, token: string, extra: Record<string, string> = {}) {
  return call("POST", INTROSPECT, {
    token: caller,
    rawBody: new URLSearchParams({ token, ...extra }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
}

async function answer(caller: string, token: string): Promise<Record<string, unknown>> {
  const res = await introspect(caller, token);
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.json();
}

describe("POST /api/v1/introspect", () => {
  it("describes an active key to a keys:introspect key of its tenant, from D1", async () => {
    const tenant = freshTenant();
    const origin = await createKey(tenant, { name: "origin", scopes: ["keys:introspect"] });
    const key = await createKey(tenant, { scopes: ["api:read", "deploy:staging"], expires_in_days: 30 });
    expect(await answer(origin.api_key, key.api_key)).toEqual({
      active: true,
      scope: "api:read deploy:staging",
      client_id: key.id,
      sub: "user-123",
      exp: key.expires_at,
      iat: key.created_at,
      iss: env.KEY_ISSUER,
      aud: env.KEY_AUDIENCE,
      token_type: "Bearer",
      tenant,
    });
  });

  it("takes JSON too, ignores token_type_hint and unknown parameters, and omits exp for a non-expiring key", async () => {
    const tenant = freshTenant();
    const origin = await createKey(tenant, { scopes: ["keys:introspect"] });
    const key = await createKey(tenant, { expires_in_days: 0 });
    const res = await call("POST", INTROSPECT, {
      token: origin.api_key,
      body: { token: key.api_key, token_type_hint: "access_token", extra: 1 },
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ active: true, client_id: key.id });
    expect(body).not.toHaveProperty("exp");
    expect((await answer(origin.api_key, key.api_key)).active).toBe(true);
  });

  it("says only active: false for revoked, rotated (past the grace period), expired and forged keys", async () => {
    const tenant = freshTenant();
    const user = await userToken({ tenants: [tenant] });
    const origin = await createKey(tenant, { scopes: ["keys:introspect"] });
    const base = `/api/v1/tenant/${tenant}/api-keys`;

    const revoked = await createKey(tenant);
    expect((await answer(origin.api_key, revoked.api_key)).active).toBe(true);
    await call("POST", `${base}/${revoked.id}/revoke`, { token: user });
    expect(await answer(origin.api_key, revoked.api_key)).toEqual(INACTIVE);

    const cutOff = await createKey(tenant);
    const inGrace = await createKey(tenant);
    await call("POST", `${base}/${cutOff.id}/rotate`, { token: user, body: { grace_period_seconds: 0 } });
    await call("POST", `${base}/${inGrace.id}/rotate`, { token: user, body: { grace_period_seconds: 3600 } });
    expect(await answer(origin.api_key, cutOff.api_key)).toEqual(INACTIVE);
    expect((await answer(origin.api_key, inGrace.api_key)).active).toBe(true);

    // Expired in D1 (the truth) though its token still says otherwise, and expired by its own exp.
    const expiredInD1 = await createKey(tenant);
    await env.DB.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
      .bind(Math.floor(Date.now() / 1000) - 1, expiredInD1.id)
      .run();
    expect(await answer(origin.api_key, expiredInD1.api_key)).toEqual(INACTIVE);
    const now = Math.floor(Date.now() / 1000);
    expect(await answer(origin.api_key, await signApiKey({ tenant, iat: now - 120, exp: now - 60 }))).toEqual(INACTIVE);

    // Forged: the rogue key under the real kid; a valid signature for a key D1 does not know; garbage.
    const [h, p] = revoked.api_key.split(".");
    const forged = `${h}.${p}.${(await createKey(tenant)).api_key.split(".")[2]}`;
    for (const token of [forged, await signApiKey({ tenant }), "not-a-jwt", await userToken({ tenants: [tenant] })]) {
      expect(await answer(origin.api_key, token)).toEqual(INACTIVE);
    }
  });

  it("tells a caller nothing about another tenant's keys; a user sees the keys of each of its tenants", async () => {
    const a = freshTenant();
    const b = freshTenant();
    const keyA = await createKey(a);
    const keyB = await createKey(b);
    const originA = await createKey(a, { scopes: ["keys:introspect"] });
    const managerA = await createKey(a, { scopes: ["keys:manage"] });
    expect((await answer(originA.api_key, keyA.api_key)).active).toBe(true);
    expect(await answer(originA.api_key, keyB.api_key)).toEqual(INACTIVE);
    expect((await answer(managerA.api_key, keyA.api_key)).active).toBe(true);
    expect(await answer(managerA.api_key, keyB.api_key)).toEqual(INACTIVE);
    const both = await userToken({ tenants: [a, b] });
    expect(await answer(both, keyA.api_key)).toMatchObject({ active: true, tenant: a });
    expect(await answer(both, keyB.api_key)).toMatchObject({ active: true, tenant: b });
    expect(await answer(await userToken({ tenants: [a] }), keyB.api_key)).toEqual(INACTIVE);
  });

  it("refuses a bad caller credential with the usual 400/401/403 and its challenge", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const noCredential = await call("POST", INTROSPECT, {
      rawBody: `token=${key.api_key}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    await expectError(noCredential, 401, "invalid_token");
    expect(noCredential.headers.get("www-authenticate")).toBe('Bearer realm="keygate"');
    await expectError(await introspect("garbage", key.api_key), 401, "invalid_token");
    await expectError(await introspect(await userToken({ tenants: [tenant], expiresIn: -60 }), key.api_key), 401, "invalid_token");
    const plain = await introspect(key.api_key, key.api_key);
    await expectError(plain, 403, "insufficient_scope");
    expect(plain.headers.get("www-authenticate")).toMatch(/scope="keys:introspect keys:manage admin:all"/);
    const origin = await createKey(tenant, { scopes: ["keys:introspect"] });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${origin.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const revoked = await expectError(await introspect(origin.api_key, key.api_key), 401, "invalid_token");
    expect(revoked.error_description).toBe("API key has been revoked");
  });

  it("refuses bad input naming the field", async () => {
    const tenant = freshTenant();
    const origin = await createKey(tenant, { scopes: ["keys:introspect"] });
    const form = (rawBody: string) =>
      call("POST", INTROSPECT, { token: origin.api_key, rawBody, headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect((await expectError(await form("token_type_hint=x"), 400, "invalid_request")).error_description).toBe("token is required");
    expect((await expectError(await form("token="), 400, "invalid_request")).error_description).toBe("token must not be empty");
    expect((await expectError(await form("token=a&token=b"), 400, "invalid_request")).error_description).toBe("token must not be repeated");
    expect((await expectError(await form(""), 400, "invalid_request")).error_description).toBe("a request body is required");
    const text = await call("POST", INTROSPECT, { token: origin.api_key, rawBody: "token=x", headers: { "content-type": "text/plain" } });
    expect((await expectError(text, 415, "unsupported_media_type")).error_description).toBe(
      "the request body must be sent with Content-Type: application/x-www-form-urlencoded or application/json",
    );
    await expectError(await call("POST", INTROSPECT, { token: origin.api_key, body: { token: 42 } }), 400, "invalid_request");
  });

  it("counts the caller key as used", async () => {
    const tenant = freshTenant();
    const origin = await createKey(tenant, { scopes: ["keys:introspect"] });
    await answer(origin.api_key, origin.api_key);
    const row = await env.DB.prepare("SELECT last_used FROM api_keys WHERE id = ?").bind(origin.id).first<{ last_used: number | null }>();
    expect(row?.last_used).toEqual(expect.any(Number));
  });
});
