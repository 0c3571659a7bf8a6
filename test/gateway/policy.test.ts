import { describe, expect, it } from "vitest";
import { compilePolicy, matchPolicy } from "../../src/gateway/policy";

describe("compilePolicy / matchPolicy", () => {
  const policy = compilePolicy([
    { method: "GET", path: "/health", public: true },
    { method: "GET", path: "/api/v1/resources/**", scopes: ["api:read", "admin:read"] },
    { method: ["POST", "delete"], path: "/api/v1/resources/:id", scopes: ["api:write"] },
    { path: "/api/v1/things/*/parts", scopes: [] },
  ]);

  it("matches first rule by method and path, any-of scopes", () => {
    expect(matchPolicy(policy, "GET", ["health"])).toEqual({ kind: "public", rule: "GET /health" });
    expect(matchPolicy(policy, "GET", ["api", "v1", "resources"])).toMatchObject({
      kind: "scopes",
      scopes: ["api:read", "admin:read"],
      challenge: "api:read admin:read",
    });
    expect(matchPolicy(policy, "GET", ["api", "v1", "resources", "a", "b"])).toMatchObject({ kind: "scopes" });
    expect(matchPolicy(policy, "DELETE", ["api", "v1", "resources", "7"])).toMatchObject({
      scopes: ["api:write"],
      rule: "POST,DELETE /api/v1/resources/:id",
    });
    expect(matchPolicy(policy, "DELETE", ["api", "v1", "resources"])).toBeNull();
    expect(matchPolicy(policy, "PUT", ["api", "v1", "things", "x", "parts"])).toEqual({
      kind: "authenticated",
      rule: "* /api/v1/things/*/parts",
    });
    expect(matchPolicy(policy, "GET", ["api", "v1", "things", "x"])).toBeNull();
    expect(matchPolicy(policy, "POST", ["health"])).toBeNull();
  });

  it("matches literals case-insensitively (Express routes case-insensitively by default)", () => {
    const mixed = compilePolicy([{ method: "GET", path: "/API/v1/Admin/**", scopes: ["admin:read"] }]);
    // Segments come lower-cased from the path contract; the rule's own case does not matter.
    expect(matchPolicy(mixed, "GET", ["api", "v1", "admin", "users"])).toMatchObject({ rule: "GET /API/v1/Admin/**" });
  });

  it("lets a GET rule govern HEAD", () => {
    expect(matchPolicy(policy, "HEAD", ["health"])).toEqual({ kind: "public", rule: "GET /health" });
  });

  it("collects the scopes rules require", () => {
    expect([...policy.scopes].sort()).toEqual(["admin:read", "api:read", "api:write"]);
  });

  const bad: [unknown, RegExp][] = [
    [{}, /array/],
    [[{ path: "no-slash" }], /path/],
    [[{ path: "/a/**/b" }], /last segment/],
    [[{ path: "/a*" }], /whole segment/],
    [[{ path: "/a", method: "G E T" }], /method/],
    [[{ path: "/a", scopes: "api:read" }], /scopes/],
    [[{ path: "/a", public: true, scopes: ["api:read"] }], /public/],
    [[{ path: "/a", scope: ["api:read"] }], /unknown field/],
  ];
  for (const [raw, message] of bad) {
    it(`refuses ${JSON.stringify(raw)}`, () => {
      expect(() => compilePolicy(raw)).toThrow(message);
    });
  }
});
