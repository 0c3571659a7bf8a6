import { env } from "cloudflare:workers";
import { createLocalJWKSet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { call, createKey, decodeJwtPart, freshTenant, userToken } from "../helpers/worker";

describe("the API key token", () => {
  it("is an RS256 JWT typed keygate+jwt, with a kid of the active signing key, fields in that order", async () => {
    const key = await createKey(freshTenant());
    const header = decodeJwtPart(key.api_key, 0);
    const activeKid = (JSON.parse(env.SIGNING_KEYS as string) as { keys: { kid: string }[] }).keys[0]?.kid;
    expect(Object.entries(header)).toEqual([
      ["typ", "keygate+jwt"],
      ["alg", "RS256"],
      ["kid", activeKid],
    ]);
  });

  it("carries sub (the creator), scopes, key_id, tenant, iss, aud, iat, exp and jti", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant], sub: "user-123" });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token,
      body: { name: "k", scopes: ["api:read", "deploy:staging"], expires_in_days: 30 },
    });
    const key = (await res.json()) as { id: string; api_key: string; created_at: number; expires_at: number };
    const claims = decodeJwtPart(key.api_key, 1);
    expect(claims).toEqual({
      sub: "user-123",
      scopes: ["api:read", "deploy:staging"],
      key_id: key.id,
      tenant,
      iss: env.KEY_ISSUER,
      aud: env.KEY_AUDIENCE,
      iat: key.created_at,
      exp: key.expires_at,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it("has no exp when the key never expires", async () => {
    const key = await createKey(freshTenant(), { expires_in_days: 0 });
    expect(decodeJwtPart(key.api_key, 1)).not.toHaveProperty("exp");
  });

  it("verifies against the published JWKS, as an origin would offline", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    const res = await call("GET", "/.well-known/jwks.json");
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
    for (const jwk of jwks.keys) {
      expect(Object.keys(jwk).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
      expect(jwk).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
    }
    const { payload } = await jwtVerify(key.api_key, createLocalJWKSet(jwks as never), {
      algorithms: ["RS256"],
      issuer: env.KEY_ISSUER,
      audience: env.KEY_AUDIENCE,
    });
    expect(payload.key_id).toBe(key.id);
  });

  it("never stores the plaintext key (or its signature) in D1", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const signature = key.api_key.split(".")[2] as string;
    const { results } = await env.DB.prepare("SELECT * FROM api_keys WHERE tenant_id = ?").bind(tenant).all();
    const audit = await env.DB.prepare("SELECT * FROM audit_log WHERE tenant_id = ?").bind(tenant).all();
    const stored = JSON.stringify([results, audit.results]);
    expect(stored).toContain(key.id);
    expect(stored).not.toContain(key.api_key);
    expect(stored).not.toContain(signature);
    expect(stored).not.toContain(key.api_key.split(".")[1] as string);
  });
});
