import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { call, expectError, freshTenant, originSaw, userToken } from "../helpers/worker";

/** The test IdP's public key set, as an identity provider would publish it. */
function idpPublicJwks() {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = env.TEST_IDP_PRIVATE_JWK as unknown as Record<string, string>;
  return { keys: [pub] };
}

async function publish(name: string, jwks: unknown): Promise<string> {
  const url = `${env.ORIGIN_URL}/__jwks/${name}`;
  await fetch(url, { method: "PUT", body: JSON.stringify(jwks) });
  return url;
}

function listWith(overrides: Record<string, unknown>, tenant: string, token: string) {
  return call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token, env: { USER_TOKEN_JWKS: "", ...overrides } });
}

describe("user access tokens from a JWKS URL", () => {
  it("verifies tokens against the identity provider's published keys", async () => {
    const tenant = freshTenant();
    const url = await publish(crypto.randomUUID(), idpPublicJwks());
    const res = await listWith({ USER_TOKEN_JWKS_URL: url }, tenant, await userToken({ tenants: [tenant] }));
    expect(res.status).toBe(200);
  });

  it("fetches the JWKS again when the identity provider rotates to a new kid", async () => {
    const tenant = freshTenant();
    const name = crypto.randomUUID();
    const url = await publish(name, idpPublicJwks());
    expect((await listWith({ USER_TOKEN_JWKS_URL: url }, tenant, await userToken({ tenants: [tenant] }))).status).toBe(200);

    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const rotatedKid = `idp-${crypto.randomUUID()}`;
    await publish(name, { keys: [...idpPublicJwks().keys, { ...(await exportJWK(publicKey)), kid: rotatedKid, alg: "RS256" }] });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ tenants: [tenant] })
      .setProtectedHeader({ alg: "RS256", kid: rotatedKid })
      .setSubject("user-9")
      .setIssuer(env.USER_TOKEN_ISSUER as string)
      .setAudience(env.USER_TOKEN_AUDIENCE as string)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(await importJWK(await exportJWK(privateKey), "RS256"));
    // The cached set lacks the new kid; a refetch is due only after the cooldown.
    const { vi } = await import("vitest");
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 31_000);
      expect((await listWith({ USER_TOKEN_JWKS_URL: url }, tenant, token)).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });

  it("is a 503 temporarily_unavailable when the JWKS cannot be fetched, and a 401 for unknown keys", async () => {
    const tenant = freshTenant();
    const missing = `${env.ORIGIN_URL}/__jwks/${crypto.randomUUID()}`;
    const down = await listWith({ USER_TOKEN_JWKS_URL: missing }, tenant, await userToken({ tenants: [tenant] }));
    await expectError(down, 503, "temporarily_unavailable");
    expect(await originSaw(new URL(missing).pathname)).toBe(1);

    const other = await publish(crypto.randomUUID(), { keys: [] });
    await expectError(await listWith({ USER_TOKEN_JWKS_URL: other }, tenant, await userToken({ tenants: [tenant] })), 401, "invalid_token");
  });
});
