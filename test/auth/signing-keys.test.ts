import { exportJWK } from "jose";
import { describe, expect, it } from "vitest";
import { activeSigningJwk, call, createKey, decodeJwtPart, expectError, freshTenant, userToken } from "../helpers/worker";

async function newPrivateJwk(kid: string, modulusLength = 2048) {
  // WebCrypto directly: jose refuses to generate keys under 2048 bits, which one case needs.
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  return { ...(await exportJWK(pair.privateKey)), kid, alg: "RS256" };
}

function callWith(signingKeys: string, method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  return call(method, path, { ...options, env: { SIGNING_KEYS: signingKeys } });
}

describe("signing-key rotation: add, promote, retire", () => {
  it("publishes every key, signs with the first, and keeps verifying keys signed by the others", async () => {
    const current = activeSigningJwk();
    const next = await newPrivateJwk("kg-next");
    const tenant = freshTenant();
    const oldKey = await createKey(tenant);

    // Add: the new key is published but the current one still signs.
    const added = JSON.stringify({ keys: [current, next] });
    const jwks = (await (await callWith(added, "GET", "/.well-known/jwks.json")).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([current.kid, "kg-next"]);
    for (const k of jwks.keys) for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(k).not.toHaveProperty(secret);

    // Promote: new keys carry the new kid; keys signed by the old one still pass the gateway.
    const promoted = JSON.stringify({ keys: [next, current] });
    const user = await userToken({ tenants: [tenant] });
    const res = await callWith(promoted, "POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token: user,
      body: { name: "n", scopes: ["api:read"] },
    });
    expect(res.status).toBe(201);
    const newKey = (await res.json()) as { api_key: string };
    expect(decodeJwtPart(newKey.api_key, 0).kid).toBe("kg-next");
    expect((await callWith(promoted, "GET", "/api/v1/resources", { token: oldKey.api_key })).status).toBe(200);
    expect((await callWith(promoted, "GET", "/api/v1/resources", { token: newKey.api_key })).status).toBe(200);

    // Retire: keys signed by the retired key stop verifying, everywhere.
    const retired = JSON.stringify({ keys: [next] });
    const refused = await expectError(await callWith(retired, "GET", "/api/v1/resources", { token: oldKey.api_key }), 401, "invalid_token");
    expect(refused.error_description).toBe("API key is invalid");
    expect((await callWith(retired, "GET", "/api/v1/resources", { token: newKey.api_key })).status).toBe(200);
  });

  it("refuses broken SIGNING_KEYS with a generic 500 that leaks nothing", async () => {
    const good = activeSigningJwk();
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicOnly } = good;
    const cases = {
      missing: "",
      "not JSON": "{keys:",
      "not a set": JSON.stringify([good]),
      "empty set": JSON.stringify({ keys: [] }),
      "public key only": JSON.stringify({ keys: [publicOnly] }),
      "no kid": JSON.stringify({ keys: [{ ...good, kid: undefined }] }),
      "duplicate kid": JSON.stringify({ keys: [good, good] }),
      "wrong alg": JSON.stringify({ keys: [{ ...good, alg: "RS512" }] }),
      "1024-bit key": JSON.stringify({ keys: [await newPrivateJwk("short", 1024)] }),
    };
    for (const [what, value] of Object.entries(cases)) {
      const res = await callWith(value, "GET", "/.well-known/jwks.json");
      const body = await expectError(res, 500, "server_error");
      expect(body.error_description, what).toBe("keygate is misconfigured; see the worker logs");
    }
  });
});
