import { describe, expect, it } from "vitest";
import { parseRoute, type Route, routePath } from "../src/lib/router";

describe("routes", () => {
  it("round-trips every page, with ids that need encoding", () => {
    const routes: Route[] = [
      { page: "keys", tenant: "my-tenant" },
      { page: "key", tenant: "a.b", keyId: "key-1/2" },
      { page: "alerts", tenant: "t" },
      { page: "webhooks", tenant: "t" },
    ];
    for (const route of routes) expect(parseRoute(routePath(route))).toEqual(route);
    expect(parseRoute("/console/")).toEqual({ page: "home" });
    expect(parseRoute("/console/t/my-tenant/keys/")).toEqual({ page: "keys", tenant: "my-tenant" });
  });

  it("anything else is not found", () => {
    for (const path of ["/console/x", "/console/t/a", "/console/t/a/keys/b/c", "/console/t//keys", "/console/t/%E0%A4%A/keys", "/other"]) {
      expect(parseRoute(path)).toEqual({ page: "not-found" });
    }
  });
});
