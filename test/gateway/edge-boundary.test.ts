/**
 * The edge boundary in workerd (issue #16, data plane): the route policy judges exactly the path
 * the origin receives (src/gateway/path-contract.ts), and the origin trusts only headers keygate
 * set (src/gateway/origin-headers.ts). The same attacks through the real dev server and real
 * origin frameworks: test/e2e/edge-boundary.test.ts and test/e2e/path-differential.test.ts.
 */
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { CLIENT_ADDRESS_HEADERS } from "../../src/gateway/origin-headers";
import { call, createKey, expectError, freshTenant, originSaw } from "../helpers/worker";

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** How many times the test origin saw this raw path (its counter is keyed by the undecoded path). */
function sawRaw(path: string): Promise<number> {
  return originSaw(path.replace(/%/g, "%25"));
}

const NORMALIZE = { PATH_NORMALIZATION: "normalize" };
const NORMALIZE_WITH_ASSERTION = { PATH_NORMALIZATION: "normalize", IDENTITY_ASSERTION: "jwt" };

describe("path confusion (Envoy CVE-2019-9901, Istio CVE-2021-31920)", () => {
  it("refuses an admin path dressed as the public /health with encoded slashes, without a key, before the origin", async () => {
    const path = `/api/v1/admin/users/${crypto.randomUUID()}%2F..%2F..%2F..%2F..%2F..%2Fhealth`;
    const res = await call("GET", path);
    const body = await expectError(res, 400, "invalid_request");
    expect(body.error_description).toMatch(/percent-encoded '\/'/);
    expect(await sawRaw(path)).toBe(0);
  });

  it("refuses a DELETE under /api/v1/resources that would escape the api:write rule, for an api:read key", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    const path = `/api/v1/resources/${crypto.randomUUID()}%2F..%2F..%2F..%2F..%2Felsewhere`;
    const res = await call("DELETE", path, { token: key.api_key });
    await expectError(res, 400, "invalid_request");
    expect(await sawRaw(path)).toBe(0);
  });

  it("refuses a bad path before any key work: a forged key gets 400, not 401", async () => {
    for (const path of ["/a%2Fb", "/a;b=1/c", "//api/v1/admin", "/a/%2e%2E%5Cb", "/a%252Fb"]) {
      const res = await call("GET", path, { token: "not.a.key", headers: { "cf-connecting-ip": "192.0.2.99" } });
      await expectError(res, 400, "invalid_request");
      expect(res.headers.get("www-authenticate"), path).toBeNull();
    }
  });

  it("refuses a path whose letter case picks another rule than its lower-case form: /API/v1/Admin", async () => {
    // Express (case-insensitive) runs it as /api/v1/admin; Werkzeug (case-sensitive) as nothing the
    // admin rule covers: no one rule judges what every origin may run.
    const key = await createKey(freshTenant(), { scopes: ["admin:all"] });
    const path = `/API/v1/Admin/${crypto.randomUUID()}`;
    const res = await call("GET", path, { token: key.api_key });
    expect((await expectError(res, 400, "invalid_request")).error_description).toMatch(/letter case selects a different route rule/);
    expect(await originSaw(path)).toBe(0);
    // Case that picks the same rule either way is judged and forwarded as sent.
    const item = `/api/v1/admin/Users-${crypto.randomUUID()}`;
    expect((await call("GET", item, { token: key.api_key })).status).toBe(200);
    expect(await originSaw(item)).toBe(1);
  });

  it("refuses ';' path parameters, which Tomcat and Spring strip before routing", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    await expectError(await call("GET", "/api/v1/admin;jsessionid=1/users", { token: key.api_key }), 400, "invalid_request");
  });

  it("matches a percent-encoded unreserved character decoded, and forwards it as sent (reject mode)", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    await expectError(await call("GET", `/api/v1/%61dmin/${crypto.randomUUID()}`, { token: key.api_key }), 403, "insufficient_scope");
    const path = `/api/v1/%72esources/${crypto.randomUUID()}`;
    const res = await call("GET", path, { token: key.api_key });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo).url).toBe(path);
  });

  it("whatever the runtime resolves itself (dot segments, %2e), the origin receives the path that was judged", async () => {
    // workerd's URL parser resolves these before keygate sees the request (WHATWG URL).
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    for (const path of ["/health/../api/v1/admin/x", "/health/%2e%2e/api/v1/admin/x"]) {
      await expectError(await call("GET", path, { token: key.api_key }), 403, "insufficient_scope");
    }
  });

  it("in normalize mode, forwards the path it judged: dots resolved, slashes merged, unreserved decoded", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    const id = crypto.randomUUID();
    const res = await call("GET", `//api//v1/%72esources/${id}/x/%2E%2E/r%c3%a9sum%c3%a9/?q=%2F`, { token: key.api_key, env: NORMALIZE });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo).url).toBe(`/api/v1/resources/${id}/r%C3%A9sum%C3%A9/?q=%2F`);
    // Still refused in normalize mode: encoded separators and ';' have no single meaning to normalize to.
    await expectError(await call("GET", "/api/v1/resources/a%2Fb", { token: key.api_key, env: NORMALIZE }), 400, "invalid_request");
    await expectError(await call("GET", "/api/v1/resources;a", { token: key.api_key, env: NORMALIZE }), 400, "invalid_request");
    // A path normalized into an admin path is judged as one.
    await expectError(
      await call("GET", `/health/%2e%2E/api/v1/admin/${id}`, { token: key.api_key, env: NORMALIZE }),
      403,
      "insufficient_scope",
    );
  });

  it("in normalize mode, the identity assertion binds the normalized path the origin receives", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    const id = crypto.randomUUID();
    const res = await call("GET", `/api//v1/resources/${id}/%7Ex`, { token: key.api_key, env: NORMALIZE_WITH_ASSERTION });
    const echo = (await res.json()) as Echo;
    expect(echo.url).toBe(`/api/v1/resources/${id}/~x`);
    expect(decodeJwt(echo.headers["x-keygate-assertion"] as string).path).toBe(`/api/v1/resources/${id}/~x`);
  });

  it("refuses an unknown PATH_NORMALIZATION as a configuration error", async () => {
    await expectError(await call("GET", "/health", { env: { PATH_NORMALIZATION: "decode" } }), 500, "server_error");
  });
});

describe("headers the origin may trust", () => {
  it("drops every X-Keygate-* look-alike: case, and '_' for '-' (wsgiref folds X-Keygate_Tenant into X-Keygate-Tenant)", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const res = await call("GET", `/echo/${crypto.randomUUID()}`, {
      token: key.api_key,
      headers: { "X-Keygate_Tenant": "victim", x_keygate_scopes: "admin:all", "X-KEYGATE_client_ip": "203.0.113.1", "x-keygate_": "1" },
    });
    const echo = (await res.json()) as Echo;
    const forwarded = Object.keys(echo.headers).filter((h) => h.replace(/_/g, "-").startsWith("x-keygate-"));
    expect(forwarded.sort()).toEqual(["x-keygate-key-id", "x-keygate-scopes", "x-keygate-subject", "x-keygate-tenant"]);
    expect(echo.headers["x-keygate-tenant"]).toBe(tenant);
  });

  it("gives the origin one client address it can trust and drops the client's claims about it", async () => {
    const key = await createKey(freshTenant());
    // Every client-address header, in both spellings a CGI/WSGI server folds together.
    const claims: Record<string, string> = {};
    for (const name of CLIENT_ADDRESS_HEADERS) {
      if (name === "cf-connecting-ip") continue;
      claims[name] = "10.0.0.1";
      claims[name.replace(/-/g, "_")] = "10.0.0.2";
    }
    const res = await call("GET", `/echo/${crypto.randomUUID()}`, {
      token: key.api_key,
      headers: { ...claims, "cf-connecting-ip": "198.51.100.7", "x-forwarded-host": "evil.example" },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.headers["x-keygate-client-ip"]).toBe("198.51.100.7");
    expect(echo.headers["x-forwarded-for"]).toBe("198.51.100.7");
    expect(echo.headers["x-forwarded-host"]).toBe("localhost:3000");
    // keygate sets these three itself; nothing else the client claimed arrives, in any spelling.
    const set = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]);
    for (const name of Object.keys(claims)) {
      if (!set.has(name)) expect(echo.headers, name).not.toHaveProperty(name);
    }
    expect(Object.values(echo.headers).filter((v) => v.includes("10.0.0."))).toEqual([]);
  });

  it("strips method overrides, so the origin runs the method that was judged", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    const res = await call("GET", `/api/v1/resources/${crypto.randomUUID()}`, {
      token: key.api_key,
      headers: {
        "X-HTTP-Method-Override": "DELETE",
        "x-http-method": "DELETE",
        "X-Method-Override": "DELETE",
        x_http_method_override: "PUT",
      },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.method).toBe("GET");
    expect(Object.keys(echo.headers).filter((h) => h.includes("method"))).toEqual([]);
  });
});
