/**
 * The route table is the one list of control-plane endpoints: every route in it is served by the
 * control plane with a user token and is in the OpenAPI document, the document has nothing else,
 * and every other path goes to the gateway.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isControlPlanePath } from "../../src/app";
import type { Env } from "../../src/env";
import { openApiDocument, ROUTES } from "../../src/routes/table";
import { signedByGitHub } from "../helpers/github";
import { call, concretePath, createKey, expectError, freshTenant, seedAlert, seedScopeUsage, userToken } from "../helpers/worker";

/** A webhook of the tenant, registered through the API. */
async function seedWebhook(tenant: string): Promise<string> {
  const res = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
    token: await userToken({ tenants: [tenant] }),
    body: { url: `${env.ORIGIN_URL}/hooks/table`, events: ["volume"] },
  });
  return ((await res.json()) as { id: string }).id;
}

/** A limit group of the tenant, created through the API. */
async function seedGroup(tenant: string): Promise<string> {
  const res = await call("POST", `/api/v1/tenant/${tenant}/limit-groups`, {
    token: await userToken({ tenants: [tenant] }),
    body: { name: "table", quota: { limit: 10, period: "day" } },
  });
  return ((await res.json()) as { id: string }).id;
}

describe("the route table", () => {
  for (const route of ROUTES) {
    it(`serves ${route.method} ${route.path} with a user token, as documented`, async () => {
      const tenant = freshTenant();
      // A key with a quota: POST .../quota/credit needs one.
      const key = await createKey(tenant, { quota: { limit: 100, period: "month" } });
      await seedScopeUsage(tenant, key.id);
      const path = concretePath(route.path, tenant, {
        key: key.id,
        alert: await seedAlert(tenant),
        webhook: await seedWebhook(tenant),
        group: await seedGroup(tenant),
      });
      expect(isControlPlanePath(path)).toBe(true);
      expect(isControlPlanePath(`${path}/`)).toBe(true);
      const token = await userToken({ tenants: [tenant] });
      // GitHub's endpoint takes GitHub's signature instead of a bearer credential.
      const res =
        route.credential === "github-signature"
          ? await call(route.method, path, await signedByGitHub(JSON.stringify(route.body?.example)))
          : await call(route.method, path, { token, body: route.body?.example });
      // call() already checked status and body against the document; the route must succeed.
      expect(Object.keys(route.responses)).toContain(String(res.status));
    });
  }

  it("is the OpenAPI document's list of operations, no more, no less", () => {
    const doc = openApiDocument(env as Env) as { paths: Record<string, Record<string, { operationId: string }>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    const ids = ROUTES.map((r) => r.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("sends every other path to the gateway, even under the control plane's prefixes", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { scopes: ["api:read"] });
    const user = await userToken({ tenants: [tenant] });
    for (const path of [
      "/api/v1/protected-resource",
      `/api/v1/tenant/${tenant}/api-keys/${key.id}/extra`,
      `/api/v1/tenant/${tenant}/something-else`,
      "/api/v1/scopes/more",
      "/.well-known/openid-configuration",
      "/_keygate/other",
    ]) {
      expect(isControlPlanePath(path), path).toBe(false);
      // A user token is not an API key: the gateway refuses it...
      const refused = await expectError(await call("GET", path, { token: user }), 401, "invalid_token");
      expect(refused.error_description).toBe("API key is invalid");
      // ... and forwards a key to the origin.
      const forwarded = await call("GET", path, { token: key.api_key });
      expect(forwarded.status).toBe(200);
      expect(((await forwarded.json()) as { url: string }).url).toBe(path);
    }
  });

  it("answers other methods of a route's path with 405 and Allow from the table", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const byPath = new Map<string, string[]>();
    for (const r of ROUTES) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r.method]);
    for (const [template, methods] of byPath) {
      const other = ["GET", "POST", "PUT", "PATCH", "DELETE"].find((m) => !methods.includes(m))!;
      const res = await call(other, concretePath(template, tenant, "key-x"), { token });
      await expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe(methods.join(", "));
    }
  });
});
