import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { narrowingPreview } from "../src/lib/governance";
import { allows, operationRolesOf, sessionRole } from "../src/lib/permissions";
import { loadSession, saveSession, sessionFromAccessToken } from "../src/lib/session";
import { MemoryStore } from "./helpers";

const NOW = 1_800_000_000;
const key = new TextEncoder().encode("k".repeat(32));
const token = (claims: Record<string, unknown>) =>
  new SignJWT({ sub: "u", exp: NOW + 3600, ...claims }).setProtectedHeader({ alg: "HS256" }).sign(key);
const ROLES = { claim: "keygate_roles", defaultRole: "admin" };

/** The shape of the worker's document: x-keygate-role per operation. */
const DOC = {
  paths: {
    "/api/v1/tenant/{tenant}/api-keys/list": { get: { operationId: "listApiKeys", "x-keygate-role": "viewer" } },
    "/api/v1/tenant/{tenant}/api-keys/create": { post: { operationId: "createApiKey", "x-keygate-role": "operator" } },
    "/api/v1/tenant/{tenant}/webhooks": { post: { operationId: "createWebhook", "x-keygate-role": "admin" } },
    "/api/v1/scopes": { get: { operationId: "getScopes", "x-keygate-role": "public" } },
  },
};

describe("which controls the console shows", () => {
  const roles = operationRolesOf(DOC);

  it("reads each operation's role from the OpenAPI document", () => {
    expect([...roles]).toEqual([
      ["listApiKeys", "viewer"],
      ["createApiKey", "operator"],
      ["createWebhook", "admin"],
      ["getScopes", "public"],
    ]);
  });

  it("viewer, operator, admin and a token without the claim, as the worker reads them", async () => {
    const as = async (claims: Record<string, unknown>) =>
      sessionFromAccessToken(await token({ tenants: ["t"], ...claims }), "tenants", NOW, undefined, ROLES);
    const viewer = await as({ keygate_roles: ["viewer"] });
    const operator = await as({ keygate_roles: "operator" });
    const admin = await as({ keygate_roles: { t: ["admin"] } });
    const noClaim = await as({});
    const table = [viewer, operator, admin, noClaim].map((s) =>
      ["listApiKeys", "createApiKey", "createWebhook"].map((op) => allows(roles, s, "t", op)),
    );
    expect(table).toEqual([
      [true, false, false],
      [true, true, false],
      [true, true, true],
      [true, true, true],
    ]);
    expect(sessionRole(admin, "other")).toBeNull();
  });

  it("shows nothing that changes things until the document is loaded, nor for an operation it does not know", async () => {
    const s = sessionFromAccessToken(await token({ tenants: ["t"] }), "tenants", NOW, undefined, ROLES);
    expect(allows(null, s, "t", "listApiKeys")).toBe(false);
    expect(allows(roles, s, "t", "noSuchOperation")).toBe(false);
  });

  it("USER_TOKEN_DEFAULT_ROLE none: a token without the claim sees no control; the role survives a reload", async () => {
    const s = sessionFromAccessToken(await token({ tenants: ["t"] }), "tenants", NOW, undefined, {
      claim: "keygate_roles",
      defaultRole: "none",
    });
    expect(allows(roles, s, "t", "listApiKeys")).toBe(false);
    const store = new MemoryStore();
    const viewer = sessionFromAccessToken(await token({ tenants: ["t"], keygate_roles: ["viewer"] }), "tenants", NOW, undefined, ROLES);
    saveSession(store, viewer);
    const loaded = loadSession(store, NOW);
    expect(loaded && allows(roles, loaded, "t", "createApiKey")).toBe(false);
    expect(loaded && allows(roles, loaded, "t", "listApiKeys")).toBe(true);
  });
});

describe("the narrowing preview", () => {
  it("keeps the exercised scopes, drops the rest, and names what replaces a wildcard", () => {
    const usage = {
      scopes: [
        { scope: "api:read", exercised: true, count: 3, last_exercised: 1 },
        { scope: "api:write", exercised: false, count: 0, last_exercised: null },
        { scope: "deploy:*", exercised: true, count: 1, last_exercised: 2, exercised_as: ["deploy:production"] },
      ],
      exercised_scopes: ["api:read", "deploy:production"],
    };
    expect(narrowingPreview(usage)).toEqual({ kept: ["api:read"], removed: ["api:write", "deploy:*"], added: ["deploy:production"] });
  });
});
