/**
 * Roles for people: every route of the table, called by a viewer, an operator, an admin and a
 * token without the roles claim. A route answers as documented for a role at or above its own, and
 * 403 insufficient_role naming its role below it, recorded in the tenant's own audit log only.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { openApiDocument, ROUTES } from "../../src/routes/table";
import { ROLES, type Role, roleAllows } from "../../src/vocab/roles.mjs";
import { signedByGitHub } from "../helpers/github";
import {
  auditRows,
  call,
  concretePath,
  countKeys,
  createKey,
  expectError,
  freshTenant,
  seedAlert,
  seedScopeUsage,
  userToken,
} from "../helpers/worker";

type Caller = Role | "no claim";
const CALLERS: readonly Caller[] = [...ROLES, "no claim"];

/** A user token of `tenant` as `caller`: the roles claim listing that role, or no claim at all. */
function tokenAs(caller: Caller, tenant: string, sub = "someone"): Promise<string> {
  return userToken({ tenants: [tenant], sub, extraClaims: caller === "no claim" ? {} : { keygate_roles: [caller] } });
}

async function seedWebhook(tenant: string): Promise<string> {
  const res = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
    token: await tokenAs("admin", tenant),
    body: { url: `${env.ORIGIN_URL}/hooks/roles`, events: ["volume"] },
  });
  return ((await res.json()) as { id: string }).id;
}

/** A limit group of the tenant (issue 19), created by an admin. */
async function seedGroup(tenant: string): Promise<string> {
  const res = await call("POST", `/api/v1/tenant/${tenant}/limit-groups`, {
    token: await tokenAs("admin", tenant),
    body: { name: "roles", quota: { limit: 10, period: "day" } },
  });
  return ((await res.json()) as { id: string }).id;
}

describe("the role matrix: every route of the table, as each role", () => {
  for (const route of ROUTES) {
    for (const caller of CALLERS) {
      // A token without the claim is an admin (USER_TOKEN_DEFAULT_ROLE's default).
      const effective: Role = caller === "no claim" ? "admin" : caller;
      const allowed = route.role === "public" || roleAllows(effective, route.role);
      it(`${route.method} ${route.path} (role ${route.role}) as ${caller}: ${allowed ? "served" : "403 insufficient_role"}`, async () => {
        const tenant = freshTenant();
        // A key with a quota: POST .../quota/credit needs one.
        const key = await createKey(tenant, { name: "subject", quota: { limit: 100, period: "month" } });
        await seedScopeUsage(tenant, key.id);
        const path = concretePath(route.path, tenant, {
          key: key.id,
          alert: await seedAlert(tenant),
          webhook: await seedWebhook(tenant),
          group: await seedGroup(tenant),
        });
        const token = await tokenAs(caller, tenant, `as-${caller}`);
        const keysBefore = await countKeys(tenant);
        const auditBefore = await auditRows(tenant);
        const res =
          route.credential === "github-signature"
            ? await call(route.method, path, await signedByGitHub(JSON.stringify(route.body?.example)))
            : await call(route.method, path, { token, body: route.body?.example });
        if (allowed) {
          expect(Object.keys(route.responses)).toContain(String(res.status));
          return;
        }
        const body = await expectError(res, 403, "insufficient_role");
        expect(body.error_description).toContain(`needs the ${route.role} role`);
        expect(body.error_description).toContain(`has the ${effective} role`);
        expect(await countKeys(tenant)).toBe(keysBefore);
        const added = (await auditRows(tenant)).slice(auditBefore.length);
        if (route.credential === "management") {
          expect(added).toMatchObject([
            {
              action: route.audit,
              actor_kind: "user",
              actor_id: `as-${caller}`,
              outcome: "denied",
              status: 403,
              error: "insufficient_role",
            },
          ]);
        }
      });
    }
  }
});

describe("the OpenAPI document states each operation's role", () => {
  it("x-keygate-role is the route's role, and the description says it", () => {
    const doc = openApiDocument(env as Env) as { paths: Record<string, Record<string, { "x-keygate-role": string; description: string }>> };
    for (const route of ROUTES) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(op?.["x-keygate-role"], `${route.method} ${route.path}`).toBe(route.role);
      expect(op?.description).toContain(`Role: ${route.role}`);
    }
  });
});

describe("the roles claim", () => {
  const listPath = (t: string) => `/api/v1/tenant/${t}/api-keys/list`;
  const createPath = (t: string) => `/api/v1/tenant/${t}/api-keys/create`;
  const body = { name: "k", scopes: ["api:read"] };

  it("a per-tenant map gives each tenant its own role, and none to a tenant it does not name", async () => {
    const a = freshTenant();
    const b = freshTenant();
    const c = freshTenant();
    const token = await userToken({ tenants: [a, b, c], extraClaims: { keygate_roles: { [a]: ["viewer"], [b]: ["operator", "viewer"] } } });
    expect((await call("GET", listPath(a), { token })).status).toBe(200);
    const refused = await expectError(await call("POST", createPath(a), { token, body }), 403, "insufficient_role");
    expect(refused.error_description).toBe("This needs the operator role in this tenant; this credential has the viewer role");
    expect((await call("POST", createPath(b), { token, body })).status).toBe(201);
    const none = await expectError(await call("GET", listPath(c), { token }), 403, "insufficient_role");
    expect(none.error_description).toBe("This needs the viewer role in this tenant; this credential has no role");
  });

  it("a flat list applies to every tenant of the tenants claim, its highest known role counting", async () => {
    const a = freshTenant();
    const b = freshTenant();
    const token = await userToken({ tenants: [a, b], extraClaims: { keygate_roles: ["auditor", "operator", "viewer"] } });
    for (const t of [a, b]) expect((await call("POST", createPath(t), { token, body })).status).toBe(201);
    await expectError(
      await call("PUT", `/api/v1/tenant/${a}/alert-settings`, { token, body: { new_ip: false } }),
      403,
      "insufficient_role",
    );
  });

  it("a claim naming no known role, or of another shape, grants no role (fails closed)", async () => {
    const t = freshTenant();
    for (const claim of [["auditor"], [], 42, true]) {
      const token = await userToken({ tenants: [t], extraClaims: { keygate_roles: claim } });
      await expectError(await call("GET", listPath(t), { token }), 403, "insufficient_role");
    }
  });

  it("a role never reaches a tenant the tenants claim does not list: that is still 403 access_denied, not in its log", async () => {
    const mine = freshTenant();
    const theirs = freshTenant();
    await createKey(theirs);
    const token = await userToken({ tenants: [mine], extraClaims: { keygate_roles: { [theirs]: ["admin"] } } });
    const before = await auditRows(theirs);
    await expectError(await call("GET", listPath(theirs), { token }), 403, "access_denied");
    expect(await auditRows(theirs)).toEqual(before);
  });

  it("USER_TOKEN_DEFAULT_ROLE turns the admin default off: none refuses a token without the claim, viewer reads only", async () => {
    const t = freshTenant();
    const token = await userToken({ tenants: [t] });
    const none = { USER_TOKEN_DEFAULT_ROLE: "none" };
    await expectError(await call("GET", listPath(t), { token, env: none }), 403, "insufficient_role");
    const viewer = { USER_TOKEN_DEFAULT_ROLE: "viewer" };
    expect((await call("GET", listPath(t), { token, env: viewer })).status).toBe(200);
    await expectError(await call("POST", createPath(t), { token, body, env: viewer }), 403, "insufficient_role");
    // A token with the claim is unaffected.
    const admin = await userToken({ tenants: [t], extraClaims: { keygate_roles: ["admin"] } });
    expect((await call("POST", createPath(t), { token: admin, body, env: none })).status).toBe(201);
  });

  it("USER_TOKEN_ROLES_CLAIM names the claim", async () => {
    const t = freshTenant();
    const token = await userToken({ tenants: [t], extraClaims: { "https://example.com/roles": ["viewer"], keygate_roles: ["admin"] } });
    const overrides = { USER_TOKEN_ROLES_CLAIM: "https://example.com/roles" };
    await expectError(await call("POST", createPath(t), { token, body, env: overrides }), 403, "insufficient_role");
    expect((await call("GET", listPath(t), { token, env: overrides })).status).toBe(200);
  });

  it("a viewer introspects its tenant's keys; a token with no role there sees them inactive", async () => {
    const t = freshTenant();
    const key = await createKey(t);
    const ask = async (claim: unknown) =>
      (await (
        await call("POST", "/api/v1/introspect", {
          token: await userToken({ tenants: [t], extraClaims: { keygate_roles: claim } }),
          body: { token: key.api_key },
        })
      ).json()) as { active: boolean };
    expect(await ask(["viewer"])).toMatchObject({ active: true });
    expect(await ask({ other: ["admin"] })).toEqual({ active: false });
  });
});

describe("management keys: scopes map onto the same capabilities", () => {
  it("keys:read reads like a viewer and is refused every change with insufficient_scope naming the scopes that would do", async () => {
    const t = freshTenant();
    const reader = await createKey(t, { name: "exporter", scopes: ["keys:read"] });
    const token = reader.api_key;
    expect((await call("GET", `/api/v1/tenant/${t}/api-keys/list`, { token })).status).toBe(200);
    expect((await call("GET", `/api/v1/tenant/${t}/audit-log`, { token })).status).toBe(200);
    const res = await call("POST", `/api/v1/tenant/${t}/api-keys/${reader.id}/revoke`, { token });
    await expectError(res, 403, "insufficient_scope");
    expect(res.headers.get("www-authenticate")).toMatch(/scope="keys:manage admin:all"/);
    await expectError(await call("GET", `/api/v1/tenant/${t}/webhooks`, { token }), 403, "insufficient_scope");
  });

  it("keys:manage keeps every capability it had (an admin's)", async () => {
    const t = freshTenant();
    const manager = await createKey(t, { name: "bot", scopes: ["keys:manage"] });
    expect((await call("GET", `/api/v1/tenant/${t}/webhooks`, { token: manager.api_key })).status).toBe(200);
    expect((await call("PUT", `/api/v1/tenant/${t}/alert-settings`, { token: manager.api_key, body: { new_ip: false } })).status).toBe(200);
  });

  it("a key without a management scope is refused a viewer's route with all three scopes named", async () => {
    const t = freshTenant();
    const plain = await createKey(t, { scopes: ["api:read"] });
    const res = await call("GET", `/api/v1/tenant/${t}/api-keys/list`, { token: plain.api_key });
    await expectError(res, 403, "insufficient_scope");
    expect(res.headers.get("www-authenticate")).toMatch(/scope="keys:read keys:manage admin:all"/);
  });
});
