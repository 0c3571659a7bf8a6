import { describe, expect, it } from "vitest";
import { call, createKey, freshTenant } from "./helpers/worker";

describe("smoke", () => {
  it("creates a key", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    expect(key.id).toMatch(/^key-/);
    const res = await call("GET", "/.well-known/jwks.json");
    expect(res.status).toBe(200);
  });
});
