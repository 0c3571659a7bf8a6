/**
 * The signed identity assertion (IDENTITY_ASSERTION = "jwt"): off by default (no header, nothing
 * extra in the JWKS); on, the origin receives an EdDSA JWT binding key, tenant, scopes, subject,
 * method and path for its audience, verifiable with keygate's JWKS. Also prints its cost per
 * request measured here in workerd (not asserted: a rough number for docs/gateway.md).
 */
import { env } from "cloudflare:workers";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { ASSERTION_TTL_SECONDS, identityAssertion } from "../../src/auth/identity-assertion";
import type { Env } from "../../src/env";
import { call, createKey, expectError, freshTenant } from "../helpers/worker";

const ON = { IDENTITY_ASSERTION: "jwt" };

interface Echo {
  url: string;
  headers: Record<string, string>;
}

async function jwksWith(overrides?: Record<string, unknown>): Promise<JSONWebKeySet> {
  return (await call("GET", "/.well-known/jwks.json", { env: overrides })).json();
}

describe("the identity assertion", () => {
  it("is off by default: no header at the origin, only RS256 keys in the JWKS", async () => {
    const key = await createKey(freshTenant());
    const res = await call("GET", `/assert/${crypto.randomUUID()}`, { token: key.api_key });
    const echo = (await res.json()) as Echo;
    expect(echo.headers).not.toHaveProperty("x-keygate-assertion");
    expect((await jwksWith()).keys.map((k) => k.alg)).toEqual(["RS256"]);
  });

  it("when on, gives the origin an EdDSA JWT it verifies with keygate's JWKS, bound to key, method and path", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { scopes: ["api:read", "api:write"] });
    const path = `/assert/${crypto.randomUUID()}`;
    const res = await call("POST", `${path}?q=1`, { token: key.api_key, env: ON, body: {}, headers: { "X-Keygate-Assertion": "spoofed" } });
    expect(res.status).toBe(200);
    const assertion = ((await res.json()) as Echo).headers["x-keygate-assertion"] as string;
    expect(assertion).not.toBe("spoofed");

    const jwks = await jwksWith(ON);
    // The RS256 signing keys first (clients that take the first key still get one), the Ed25519 key last.
    expect(jwks.keys.map((k) => [k.kty, k.alg])).toEqual([
      ["RSA", "RS256"],
      ["OKP", "EdDSA"],
    ]);
    expect(Object.keys(jwks.keys[1]!).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
    expect(decodeProtectedHeader(assertion)).toEqual({ typ: "keygate-identity+jwt", alg: "EdDSA", kid: jwks.keys[1]!.kid });

    const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), {
      algorithms: ["EdDSA"],
      issuer: env.KEY_ISSUER,
      audience: env.ORIGIN_URL,
      typ: "keygate-identity+jwt",
    });
    expect(payload).toEqual({
      iss: env.KEY_ISSUER,
      aud: env.ORIGIN_URL,
      sub: "user-123",
      key_id: key.id,
      tenant,
      scopes: ["api:read", "api:write"],
      method: "POST",
      path,
      iat: expect.any(Number),
      exp: (payload.iat as number) + ASSERTION_TTL_SECONDS,
    });
    // It is not an API key: the gateway refuses it as one.
    await expectError(await call("GET", "/assert/x", { token: assertion, env: ON }), 401, "invalid_token");
  });

  it("takes the audience from IDENTITY_ASSERTION_AUDIENCE and puts ORIGIN_URL's path in front of the client's", async () => {
    const key = await createKey(freshTenant());
    const overrides = { ...ON, IDENTITY_ASSERTION_AUDIENCE: "https://api.internal", ORIGIN_URL: `${env.ORIGIN_URL}/v2/` };
    const res = await call("GET", "/assert/a%20b", { token: key.api_key, env: overrides });
    const echo = (await res.json()) as Echo;
    expect(echo.url).toBe("/v2/assert/a%20b");
    const { payload } = await jwtVerify(echo.headers["x-keygate-assertion"] as string, createLocalJWKSet(await jwksWith(overrides)), {
      audience: "https://api.internal",
    });
    expect(payload.path).toBe("/v2/assert/a%20b");
  });

  it("reuses an assertion for the same key, method and path within a second, never across them", async () => {
    const callEnv = { ...env, ...ON } as Env;
    const identity = { keyId: "key-1", tenant: "t", scopes: ["api:read"], sub: "u" };
    const second = Math.floor(Date.now() / 1000) * 1000;
    const first = await identityAssertion(callEnv, identity, "GET", "/a", second);
    expect(await identityAssertion(callEnv, identity, "GET", "/a", second + 999)).toBe(first);
    const others = [
      await identityAssertion(callEnv, identity, "GET", "/a", second + 1000),
      await identityAssertion(callEnv, identity, "POST", "/a", second),
      await identityAssertion(callEnv, identity, "GET", "/b", second),
      await identityAssertion(callEnv, { ...identity, keyId: "key-2" }, "GET", "/a", second),
    ];
    expect(new Set([first, ...others]).size).toBe(5);
  });

  it("fails closed on a broken setting: the gateway answers 500, the JWKS still serves the API-key keys", async () => {
    const key = await createKey(freshTenant());
    for (const broken of [
      { IDENTITY_ASSERTION: "yes" },
      { ...ON, IDENTITY_ASSERTION_KEYS: "" },
      { ...ON, IDENTITY_ASSERTION_KEYS: '{"keys":[{"kty":"RSA"}]}' },
    ]) {
      await expectError(await call("GET", "/assert/x", { token: key.api_key, env: broken }), 500, "server_error");
      expect((await jwksWith(broken)).keys.map((k) => k.alg)).toEqual(["RS256"]);
    }
  });

  it("costs little per request (printed, measured in workerd)", async () => {
    const callEnv = { ...env, ...ON } as Env;
    const identity = { keyId: `key-${crypto.randomUUID()}`, tenant: "t", scopes: ["api:read", "api:write"], sub: "user-123" };
    const n = 2000;
    await identityAssertion(callEnv, identity, "GET", "/warm-up", Date.now()); // imports the key
    let started = performance.now();
    for (let i = 0; i < n; i++) await identityAssertion(callEnv, identity, "GET", `/fresh/${i}`, Date.now());
    const freshUs = ((performance.now() - started) * 1000) / n;
    started = performance.now();
    const now = Date.now();
    for (let i = 0; i < n; i++) await identityAssertion(callEnv, identity, "GET", "/same", now);
    const reusedUs = ((performance.now() - started) * 1000) / n;
    console.log(
      `identity assertion: ${freshUs.toFixed(1)} us signed, ${reusedUs.toFixed(1)} us reused (same key+method+path+second), n=${n}`,
    );
    expect(freshUs).toBeGreaterThan(0);
  });
});
