/**
 * The shared security suite: every management route, every way a credential can be wrong.
 * Each case asserts the status and seed error body, the RFC 6750 challenge, and that nothing changed.
 */
import { env } from "cloudflare:workers";
import { importJWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ROUTES as TABLE } from "../../src/routes/table";
import { ROLES, type Role } from "../../src/vocab/roles.mjs";
import {
  auditRows,
  call,
  concretePath,
  countKeys,
  createKey,
  expectError,
  foreignRefusals,
  freshTenant,
  userToken,
} from "../helpers/worker";

/** Every management route of the table, with its example body: a new route is covered by being declared. */
const ROUTES = TABLE.filter((r) => r.credential === "management").map((r) => ({
  method: r.method,
  role: r.role as Role,
  path: (tenant: string, keyId: string) => concretePath(r.path, tenant, keyId),
  body: r.body?.example,
}));

async function snapshot(tenant: string) {
  const { results } = await env.DB.prepare(
    "SELECT id, name, revoked, replaced_by, updated_at FROM api_keys WHERE tenant_id = ? ORDER BY seq",
  )
    .bind(tenant)
    .all();
  return { rows: results, count: await countKeys(tenant), kv: (await env.EDGE_RECORDS.list({ prefix: "key-state:" })).keys.length };
}

async function hs256WithPublicKey(): Promise<string> {
  // The classic confusion attack: HMAC-sign with the RSA public key as the secret.
  const jwks = (await (await call("GET", "/.well-known/jwks.json")).json()) as { keys: { kid: string; n: string }[] };
  const pub = jwks.keys[0]!;
  return new SignJWT({ tenants: ["x"] })
    .setProtectedHeader({ alg: "HS256", kid: pub.kid })
    .setSubject("mallory")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(pub.n));
}

async function rogueUserToken(tenant: string): Promise<string> {
  const rogue = env.TEST_ROGUE_PRIVATE_JWK;
  // Same kid as the real IdP key: only the signature differs.
  return new SignJWT({ tenants: [tenant] })
    .setProtectedHeader({ alg: "RS256", kid: env.TEST_IDP_PRIVATE_JWK.kid })
    .setSubject("mallory")
    .setIssuer(env.USER_TOKEN_ISSUER as string)
    .setAudience(env.USER_TOKEN_AUDIENCE as string)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(await importJWK(rogue, "RS256"));
}

function unsigned(tenant: string): string {
  const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub: "mallory", tenants: [tenant], iss: env.USER_TOKEN_ISSUER, aud: env.USER_TOKEN_AUDIENCE, iat: now, exp: now + 600 })}.`;
}

type Case = [string, (tenant: string) => Promise<Record<string, string>>, number, string, RegExp?];

const CASES: Case[] = [
  ["no Authorization header", async () => ({}), 401, "invalid_token", /^Bearer realm="keygate"$/],
  ["a Basic credential", async () => ({ authorization: "Basic dXNlcjpwYXNz" }), 401, "invalid_token", /^Bearer realm="keygate"$/],
  ["an empty bearer token", async () => ({ authorization: "Bearer " }), 400, "invalid_request", /error="invalid_request"/],
  ["a bearer token with spaces", async () => ({ authorization: "Bearer a b" }), 400, "invalid_request", /error="invalid_request"/],
  ["a garbage token", async () => ({ authorization: "Bearer not-a-jwt" }), 401, "invalid_token", /error="invalid_token"/],
  [
    "an expired user token",
    async (t) => ({ authorization: `Bearer ${await userToken({ tenants: [t], expiresIn: -60 })}` }),
    401,
    "invalid_token",
  ],
  [
    "a user token for another audience",
    async (t) => ({ authorization: `Bearer ${await userToken({ tenants: [t], audience: "other-app" })}` }),
    401,
    "invalid_token",
  ],
  [
    "a user token from another issuer",
    async (t) => ({ authorization: `Bearer ${await userToken({ tenants: [t], issuer: "https://evil.example" })}` }),
    401,
    "invalid_token",
  ],
  ["a user token signed by an unknown key", async (t) => ({ authorization: `Bearer ${await rogueUserToken(t)}` }), 401, "invalid_token"],
  ["an unsigned (alg: none) token", async (t) => ({ authorization: `Bearer ${unsigned(t)}` }), 401, "invalid_token"],
  [
    "an HS256 token keyed with the public key",
    async () => ({ authorization: `Bearer ${await hs256WithPublicKey()}` }),
    401,
    "invalid_token",
  ],
  [
    "a user token for another tenant",
    async () => ({ authorization: `Bearer ${await userToken({ tenants: ["someone-else"] })}` }),
    403,
    "access_denied",
  ],
  [
    "a user token with no tenants claim",
    async () => ({ authorization: `Bearer ${await userToken({ tenants: [] })}` }),
    403,
    "access_denied",
  ],
  [
    "an API key without keys:manage",
    async (t) => ({ authorization: `Bearer ${(await createKey(t, { scopes: ["api:read", "api:write"] })).api_key}` }),
    403,
    "insufficient_scope",
    // The scopes that act with the route's role: keys:read too on a viewer's routes.
    /scope="(keys:read )?keys:manage admin:all"/,
  ],
];

describe("management security suite", () => {
  for (const route of ROUTES) {
    describe(`${route.method} ${route.path("{tenant}", "{id}")}`, () => {
      for (const [what, headers, status, error, challenge] of CASES) {
        it(`refuses ${what} (${status} ${error}) and changes nothing`, async () => {
          const tenant = freshTenant();
          const victim = await createKey(tenant, { name: "victim" });
          const h = await headers(tenant);
          const before = await snapshot(tenant);
          const auditBefore = await auditRows(tenant);
          const res = await call(route.method, route.path(tenant, victim.id), { headers: h, body: route.body });
          await expectError(res, status, error);
          if (challenge) expect(res.headers.get("www-authenticate")).toMatch(challenge);
          if (status === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="keygate"/);
          expect(await snapshot(tenant)).toEqual(before);
          const added = (await auditRows(tenant)).slice(auditBefore.length);
          if (what.startsWith("an API key")) {
            // The tenant's own key: a member's refusal stays in the tenant's log.
            expect(added).toMatchObject([{ actor_kind: "key", outcome: "denied", error }]);
          } else {
            // Nobody, or someone outside the tenant: nothing in its log, a count for the operator.
            expect(added).toEqual([]);
            expect(await foreignRefusals(tenant)).toMatchObject([{ error, count: 1 }]);
          }
        });
      }
    });
  }

  for (const route of ROUTES) {
    // The role just below the route's (none below a viewer's): derived from the table, like the route.
    const below = ROLES[ROLES.indexOf(route.role) - 1];
    it(`${route.method} ${route.path("{tenant}", "{id}")}: refuses a user below its role ${route.role} (403 insufficient_role), recorded in the tenant's log`, async () => {
      const tenant = freshTenant();
      const victim = await createKey(tenant, { name: "victim" });
      const token = await userToken({ tenants: [tenant], sub: "low", extraClaims: { keygate_roles: below === undefined ? [] : [below] } });
      const before = await snapshot(tenant);
      const auditBefore = await auditRows(tenant);
      const res = await call(route.method, route.path(tenant, victim.id), { token, body: route.body });
      const body = await expectError(res, 403, "insufficient_role");
      expect(body.error_description).toContain(`needs the ${route.role} role`);
      expect(await snapshot(tenant)).toEqual(before);
      expect((await auditRows(tenant)).slice(auditBefore.length)).toMatchObject([
        { actor_kind: "user", actor_id: "low", outcome: "denied", error: "insufficient_role" },
      ]);
      expect(await foreignRefusals(tenant)).toEqual([]);
    });
  }

  for (const [index, route] of ROUTES.entries()) {
    // One client per route: six refusals each stay under the brute-force limit.
    const ip = `198.51.100.${index + 1}`;
    it(`${route.method} ${route.path("{tenant}", "{id}")}: another tenant's user or management key writes nothing to the tenant's audit log`, async () => {
      const tenant = freshTenant();
      const other = freshTenant();
      const victim = await createKey(tenant, { name: "victim" });
      const otherKey = await createKey(other, { name: "manager", scopes: ["keys:manage"] });
      const auditBefore = await auditRows(tenant);
      for (const token of [await userToken({ tenants: [other], sub: "eve" }), otherKey.api_key]) {
        for (let i = 0; i < 3; i++) {
          const res = await call(route.method, route.path(tenant, victim.id), {
            token,
            body: route.body,
            headers: { "cf-connecting-ip": ip },
          });
          await expectError(res, 403, "access_denied");
        }
      }
      expect(await auditRows(tenant)).toEqual(auditBefore);
      expect(await auditRows(other)).toHaveLength(1); // its own key's creation, nothing more
      expect(await foreignRefusals(tenant)).toMatchObject([
        { actor_kind: "key", actor_id: otherKey.id, error: "access_denied", count: 3, last_ip: ip },
        { actor_kind: "user", actor_id: "eve", error: "access_denied", count: 3 },
      ]);
    });
  }

  it("records a member's refused attempts in the tenant's audit log, with actor, outcome and client", async () => {
    const tenant = freshTenant();
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token: await userToken({ tenants: [tenant], sub: "alice" }),
      body: {},
      headers: { "user-agent": "curl/8.5.0", "cf-connecting-ip": "203.0.113.9" },
    });
    expect(await auditRows(tenant)).toMatchObject([
      {
        action: "create",
        actor_kind: "user",
        actor_id: "alice",
        outcome: "invalid",
        status: 400,
        error: "invalid_request",
        ip: "203.0.113.9",
        user_agent: "curl/8.5.0",
      },
    ]);
  });

  it("counts refused attempts of callers outside the tenant for the operator, never in the tenant's audit log", async () => {
    const tenant = freshTenant();
    await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, {
      headers: { "user-agent": "curl/8.5.0", "cf-connecting-ip": "203.0.113.9" },
    });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token: await userToken({ tenants: ["other"], sub: "eve" }),
      body: {},
    });
    expect(await auditRows(tenant)).toEqual([]);
    const hour = Math.floor(Date.now() / 1000 / 3600) * 3600;
    expect(await foreignRefusals(tenant)).toMatchObject([
      {
        hour,
        actor_kind: "anonymous",
        actor_id: "",
        error: "invalid_token",
        count: 1,
        last_ip: "203.0.113.9",
        last_user_agent: "curl/8.5.0",
      },
      { hour, actor_kind: "user", actor_id: "eve", error: "access_denied", count: 1 },
    ]);
  });
});

describe("tenant isolation", () => {
  it("a token for tenant A can neither list, read, update, rotate nor revoke B's keys", async () => {
    const a = freshTenant();
    const b = freshTenant();
    const bKey = await createKey(b, { name: "b's key" });
    const tokenA = await userToken({ tenants: [a] });
    // Through B's path: 403, revealing nothing.
    await expectError(await call("GET", `/api/v1/tenant/${b}/api-keys/list`, { token: tokenA }), 403, "access_denied");
    await expectError(await call("GET", `/api/v1/tenant/${b}/api-keys/${bKey.id}`, { token: tokenA }), 403, "access_denied");
    await expectError(await call("POST", `/api/v1/tenant/${b}/api-keys/${bKey.id}/revoke`, { token: tokenA }), 403, "access_denied");
    // Through A's own path with B's key id: the key does not exist for A.
    await expectError(await call("GET", `/api/v1/tenant/${a}/api-keys/${bKey.id}`, { token: tokenA }), 404, "not_found");
    await expectError(await call("POST", `/api/v1/tenant/${a}/api-keys/${bKey.id}/revoke`, { token: tokenA }), 404, "not_found");
    await expectError(
      await call("PATCH", `/api/v1/tenant/${a}/api-keys/${bKey.id}`, { token: tokenA, body: { name: "pwned" } }),
      404,
      "not_found",
    );
    await expectError(await call("POST", `/api/v1/tenant/${a}/api-keys/${bKey.id}/rotate`, { token: tokenA }), 404, "not_found");
    expect(await (await call("GET", `/api/v1/tenant/${a}/api-keys/list`, { token: tokenA })).json()).toEqual([]);
    const row = await env.DB.prepare("SELECT name, revoked, replaced_by FROM api_keys WHERE id = ?").bind(bKey.id).first();
    expect(row).toEqual({ name: "b's key", revoked: 0, replaced_by: null });
    expect(await env.EDGE_RECORDS.get(`key-state:${bKey.id}`)).toBeNull();
  });

  it("a 403 for an unknown tenant reads the same as for an existing one", async () => {
    const existing = freshTenant();
    await createKey(existing);
    const token = await userToken({ tenants: ["mine"] });
    const r1 = await call("GET", `/api/v1/tenant/${existing}/api-keys/list`, { token });
    const r2 = await call("GET", `/api/v1/tenant/${freshTenant()}/api-keys/list`, { token });
    expect(r1.status).toBe(403);
    expect(await r1.json()).toEqual(await r2.json());
  });

  it("a user with several tenants manages each", async () => {
    const a = freshTenant();
    const b = freshTenant();
    const token = await userToken({ tenants: [a, b] });
    for (const t of [a, b]) {
      const res = await call("POST", `/api/v1/tenant/${t}/api-keys/create`, { token, body: { name: "k", scopes: ["api:read"] } });
      expect(res.status).toBe(201);
    }
  });
});
