/**
 * Keys that secret scanners recognize: every key keygate issues (created, rotated, signed by any
 * signing key whatever its kid) starts with API_KEY_PREFIX and matches the published pattern, and
 * no other JWT does. docs/leaks.md and examples/gitleaks.toml publish exactly the pattern in the source.
 */
import { env } from "cloudflare:workers";
import { importJWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import leaksDoc from "../../docs/leaks.md?raw";
import gitleaks from "../../examples/gitleaks.toml?raw";
import { API_KEY_PATTERN, API_KEY_PREFIX } from "../../src/auth/api-key-token";
import { activeSigningJwk, call, createKey, freshTenant, signApiKey, userToken } from "../helpers/worker";

const pattern = new RegExp(API_KEY_PATTERN);
/** The seed's example `api_key` (api-key-management.md, "Creating API Keys"). */
const SEED_EXAMPLE_KEY =
  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImFwaS1rZXktMSJ9.eyJzdWIiOiJ1c2VyLTEyMyIsInNjb3BlcyI6WyJhcGk6cmVhZCIsImFwaTp3cml0ZSIsImRlcGxveTpwcm9kdWN0aW9uIl0sImtleV9pZCI6ImtleS01NTBlODQwMC1lMjliLTQxZDQtYTcxNi00NDY2NTU0NDAwMDAiLCJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJpYXQiOjE3MDU0MTYwMDAsImV4cCI6MTcxMzE5MjAwMH0.signature";

/** The whole token matches, and only as itself. */
function recognized(token: string): boolean {
  return pattern.exec(`API_KEY=${token}\n`)?.[0] === token;
}

describe("the key pattern", () => {
  it("is published verbatim in docs/leaks.md and in the gitleaks rule", () => {
    expect(leaksDoc).toContain(API_KEY_PATTERN);
    const rule = /^regex = '''(.+)'''$/m.exec(gitleaks)?.[1];
    expect(rule).toBe(API_KEY_PATTERN);
    expect(gitleaks).toContain(`keywords = ["${API_KEY_PREFIX}"]`);
    // RE2 (gitleaks, GitHub) has no lookaround or backreferences.
    expect(API_KEY_PATTERN).not.toMatch(/\(\?[=!<]|\\[1-9]/);
  });

  it("matches every key keygate issues: created (expiring or not, any scopes) and rotated", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const keys = [
      await createKey(tenant, { scopes: ["api:read"] }),
      await createKey(tenant, { scopes: ["api:read", "api:write", "deploy:staging", "billing:manage"], expires_in_days: 0 }),
      await createKey(tenant, { name: "ünïcode ✓", scopes: ["admin:read"], expires_in_days: 3650 }),
    ];
    const rotated = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${keys[0]!.id}/rotate`, { token, body: {} });
    expect(rotated.status).toBe(201);
    keys.push((await rotated.json()) as (typeof keys)[number]);
    for (const key of keys) {
      expect(key.api_key.startsWith(API_KEY_PREFIX), key.api_key).toBe(true);
      expect(recognized(key.api_key), key.api_key).toBe(true);
    }
  });

  it("keeps the prefix constant whatever the signing key's kid", async () => {
    for (const kid of ["a", "ab", "abc", "kg-20261124-3f9a1c", "a-much-longer-signing-key-identifier-0001"]) {
      const signingKeys = JSON.stringify({ keys: [{ ...activeSigningJwk(), kid }] });
      const tenant = freshTenant();
      const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
        token: await userToken({ tenants: [tenant] }),
        body: { name: "k", scopes: ["api:read"] },
        env: { SIGNING_KEYS: signingKeys },
      });
      const { api_key } = (await res.json()) as { api_key: string };
      expect(api_key.startsWith(API_KEY_PREFIX), kid).toBe(true);
      expect(recognized(api_key), kid).toBe(true);
    }
  });

  it("matches no ordinary JWT", async () => {
    const rsa = await importJWK(env.TEST_ROGUE_PRIVATE_JWK, "RS256");
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: "user-123", scopes: ["api:read"], key_id: "key-1", tenant: "t", iat: now, exp: now + 60 };
    const others = {
      "the seed's example key": SEED_EXAMPLE_KEY,
      "a user access token": await userToken(),
      "a keygate key issued before typing (typ JWT)": await signApiKey({}),
      "jose, {alg, typ: JWT}": await new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT" }).sign(rsa),
      "jose, {typ: JWT, alg, kid}": await new SignJWT(claims).setProtectedHeader({ typ: "JWT", alg: "RS256", kid: "k1" }).sign(rsa),
      "jose, no typ": await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(rsa),
      "typed like keygate but HS256": await new SignJWT(claims)
        .setProtectedHeader({ typ: "keygate+jwt", alg: "HS256", kid: "k1" })
        .sign(new TextEncoder().encode("a-shared-secret-of-32-bytes-long")),
      "an at+jwt access token": await new SignJWT(claims).setProtectedHeader({ typ: "at+jwt", alg: "RS256", kid: "k1" }).sign(rsa),
    };
    for (const [what, token] of Object.entries(others)) expect(pattern.test(token), what).toBe(false);
  });

  it("finds keys in text: an .env line, a JSON body, a shell history, but not a truncated key", async () => {
    const key = (await createKey(freshTenant())).api_key;
    for (const text of [`KEYGATE_KEY=${key}`, JSON.stringify({ api_key: key }), `curl -H "Authorization: Bearer ${key}" https://x`]) {
      expect(new RegExp(API_KEY_PATTERN, "g").exec(text)?.[0]).toBe(key);
    }
    const [header, payload, signature] = key.split(".") as [string, string, string];
    expect(pattern.test(`${header}.${payload}.${signature.slice(0, 100)}`)).toBe(false);
  });
});
