import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { clearSession, loadSession, SESSION_KEY, SIGN_IN_KEY, saveSession, sessionFromAccessToken } from "../src/lib/session";
import { MemoryStore } from "./helpers";

const NOW = 1_800_000_000;
const key = new TextEncoder().encode("k".repeat(32));
const token = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);

describe("session", () => {
  it("reads subject, tenants (from the configured claim) and expiry from the access token", async () => {
    const s = sessionFromAccessToken(await token({ sub: "u1", org_tenants: ["a", "b", "a", 7], exp: NOW + 3600 }), "org_tenants", NOW);
    expect(s).toMatchObject({ subject: "u1", tenants: ["a", "b"], expiresAt: NOW + 3600 });
    expect(sessionFromAccessToken(await token({ sub: "u1", tenants: "solo", exp: NOW + 1 }), "tenants", NOW).tenants).toEqual(["solo"]);
    expect(sessionFromAccessToken(await token({ sub: "u1" }), "tenants", NOW, 60)).toMatchObject({ tenants: [], expiresAt: NOW + 60 });
  });

  it("refuses an opaque access token with a message that says what keygate needs", () => {
    expect(() => sessionFromAccessToken("opaque-token", "tenants", NOW)).toThrow(/not a JWT.*JWT access tokens/);
  });

  it("survives a reload until the token (almost) expires, then is gone", async () => {
    const store = new MemoryStore();
    const s = sessionFromAccessToken(await token({ sub: "u1", tenants: ["a"], exp: NOW + 3600 }), "tenants", NOW);
    saveSession(store, s);
    expect(loadSession(store, NOW)).toEqual(s);
    expect(loadSession(store, NOW + 3590)).toBeNull();
    expect(store.getItem(SESSION_KEY)).toBeNull();
  });

  it("drops a malformed stored session", () => {
    const store = new MemoryStore();
    store.setItem(SESSION_KEY, "{not json");
    expect(loadSession(store, NOW)).toBeNull();
    store.setItem(SESSION_KEY, JSON.stringify({ accessToken: 1 }));
    expect(loadSession(store, NOW)).toBeNull();
    expect(store.items.size).toBe(0);
  });

  it("sign-out removes the session and any sign-in in progress", async () => {
    const store = new MemoryStore();
    saveSession(store, sessionFromAccessToken(await token({ sub: "u", exp: NOW + 60 }), "tenants", NOW));
    store.setItem(SIGN_IN_KEY, "{}");
    clearSession(store);
    expect(store.items.size).toBe(0);
  });
});
