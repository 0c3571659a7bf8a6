import { env } from "cloudflare:workers";
import { importJWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually";
import { call, createKey, expectError, freshTenant, lastUsedOf, originSaw, signApiKey, usageRecorded, userToken } from "../helpers/worker";

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: { bytes: number; sha256: string; text: string };
}

/** A path no other test uses, so the origin's request count for it is this test's alone. */
function uniquePath(prefix = "/echo"): string {
  return `${prefix}/${crypto.randomUUID()}`;
}

async function refusedBeforeOrigin(token: string | undefined, status: number, error: string, description?: string) {
  const path = uniquePath();
  const res = await call("GET", path, token === undefined ? {} : { token });
  const body = await expectError(res, status, error);
  if (description) expect(body.error_description).toBe(description);
  expect(await originSaw(path)).toBe(0);
  return res;
}

/** Calls the worker with some vars overridden. */
function callWithEnv(overrides: Record<string, unknown>, method: string, path: string, token?: string): Promise<Response> {
  return call(method, path, { token, env: overrides });
}

describe("gateway: a valid key", () => {
  it("reaches the origin with identity headers and the Authorization header", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { scopes: ["api:read", "api:write"] });
    const res = await call("GET", "/api/v1/protected-resource", { token: key.api_key });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.headers["x-keygate-key-id"]).toBe(key.id);
    expect(echo.headers["x-keygate-tenant"]).toBe(tenant);
    expect(echo.headers["x-keygate-scopes"]).toBe("api:read api:write");
    expect(echo.headers["x-keygate-subject"]).toBe("user-123");
    expect(echo.headers.authorization).toBe(`Bearer ${key.api_key}`);
  });

  it("strips spoofed identity headers, whatever their case", async () => {
    const key = await createKey(freshTenant());
    const res = await call("GET", uniquePath(), {
      token: key.api_key,
      headers: {
        "X-Keygate-Tenant": "victim-tenant",
        "x-KEYGATE-scopes": "admin:all",
        "X-Keygate-Extra": "1",
        "X-Keygate-Key-Id": "key-forged",
      },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.headers["x-keygate-tenant"]).not.toBe("victim-tenant");
    expect(echo.headers["x-keygate-scopes"]).toBe("api:read");
    expect(echo.headers["x-keygate-key-id"]).toBe(key.id);
    expect(echo.headers).not.toHaveProperty("x-keygate-extra");
  });

  it("never lets spoofed identity headers through on public routes either", async () => {
    const res = await call("GET", "/health", { headers: { "x-keygate-tenant": "victim", "x-keygate-key-id": "key-x" } });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(Object.keys(echo.headers).filter((h) => h.startsWith("x-keygate-"))).toEqual([]);
  });

  it("forwards method, path and query byte for byte, and sets X-Forwarded-* from the client's address alone", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:write"] });
    const path = `${uniquePath()}/a%20b/%7Euser?x=1&y=%2F&x=2&empty=&plus=a+b`;
    const res = await call("PUT", path, {
      token: key.api_key,
      body: { hello: "world" },
      headers: { "cf-connecting-ip": "198.51.100.7", "x-forwarded-for": "10.0.0.1" },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.method).toBe("PUT");
    expect(echo.url).toBe(path);
    expect(echo.body.text).toBe('{"hello":"world"}');
    // keygate is the edge: the client's own X-Forwarded-For is not evidence (docs/security-model.md).
    expect(echo.headers["x-forwarded-for"]).toBe("198.51.100.7");
    expect(echo.headers["x-keygate-client-ip"]).toBe("198.51.100.7");
    expect(echo.headers["x-forwarded-proto"]).toBe("http");
    expect(echo.headers["x-forwarded-host"]).toBe("localhost:3000");
  });

  it("drops hop-by-hop headers, including those named in Connection", async () => {
    const key = await createKey(freshTenant());
    const res = await call("GET", uniquePath(), {
      token: key.api_key,
      headers: {
        connection: "keep-alive, x-hop",
        "x-hop": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic eA==",
        "x-end-to-end": "kept",
      },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.headers).not.toHaveProperty("x-hop");
    expect(echo.headers).not.toHaveProperty("keep-alive");
    expect(echo.headers).not.toHaveProperty("te");
    expect(echo.headers).not.toHaveProperty("proxy-authorization");
    expect(echo.headers["x-end-to-end"]).toBe("kept");
  });

  it("passes origin responses through unchanged (status, headers, body)", async () => {
    const key = await createKey(freshTenant());
    for (const status of [201, 404, 418, 500, 503]) {
      const res = await call("GET", `/status/${status}`, { token: key.api_key });
      expect(res.status).toBe(status);
      expect(res.headers.get("x-origin-header")).toBe("kept");
      expect(res.headers.get("set-cookie")).toBe("origin=1; Path=/");
      expect(await res.json()).toEqual({ status });
    }
  });

  it("does not forward Authorization when FORWARD_AUTHORIZATION is false", async () => {
    const key = await createKey(freshTenant());
    const res = await callWithEnv({ FORWARD_AUTHORIZATION: "false" }, "GET", uniquePath(), key.api_key);
    const echo = (await res.json()) as Echo;
    expect(echo.headers).not.toHaveProperty("authorization");
    expect(echo.headers["x-keygate-key-id"]).toBe(key.id);
  });
});

describe("gateway: refusals never reach the origin", () => {
  it("missing key: 401 with a bare RFC 6750 challenge", async () => {
    const res = await refusedBeforeOrigin(undefined, 401, "invalid_token");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="keygate"');
  });

  it("malformed Authorization: 400 invalid_request", async () => {
    for (const authorization of ["Bearer", "Bearer ", "Bearer two parts", 'Bearer "quoted"']) {
      const path = uniquePath();
      const res = await call("GET", path, { headers: { authorization } });
      await expectError(res, 400, "invalid_request");
      expect(await originSaw(path)).toBe(0);
    }
  });

  it("expired: 401 'API key has expired'", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signApiKey({ iat: now - 7200, exp: now - 60 });
    await refusedBeforeOrigin(token, 401, "invalid_token", "API key has expired");
  });

  it("revoked through this worker: refused on the very next request", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    expect((await call("GET", uniquePath(), { token: key.api_key })).status).toBe(200);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const res = await refusedBeforeOrigin(key.api_key, 401, "invalid_token", "API key has been revoked");
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="keygate", error="invalid_token", error_description="API key has been revoked"',
    );
  });

  it("revoked elsewhere (in D1 only): refused on a fresh isolate's first request", async () => {
    const { clearEdgeCache } = await import("../../src/keys/edge-cache");
    const key = await createKey(freshTenant());
    const now = Math.floor(Date.now() / 1000);
    await env.DB.prepare("UPDATE api_keys SET revoked = 1, revoked_at = ?, updated_at = ? WHERE id = ?").bind(now, now, key.id).run();
    clearEdgeCache();
    await refusedBeforeOrigin(key.api_key, 401, "invalid_token", "API key has been revoked");
  });

  it("wrong audience, wrong issuer, unknown kid, tampered, alg none, HS256 with the public key: 401 'API key is invalid'", async () => {
    const valid = (await createKey(freshTenant())).api_key;
    const [h, p, s] = valid.split(".") as [string, string, string];
    const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const payload = JSON.parse(atob(p.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    const jwks = (await (await call("GET", "/.well-known/jwks.json")).json()) as { keys: { kid: string; n: string }[] };
    const rogue = await importJWK(env.TEST_ROGUE_PRIVATE_JWK, "RS256");

    const forged: Record<string, string> = {
      "wrong audience": await signApiKey({ aud: "another-api" }),
      "wrong issuer": await signApiKey({ iss: "https://evil.example" }),
      "unknown kid": await signApiKey({}, { kid: "not-a-known-kid" }),
      "no kid": await new SignJWT({ ...payload }).setProtectedHeader({ alg: "RS256" }).sign(rogue),
      "signed by a rogue key under our kid": await new SignJWT({ ...payload })
        .setProtectedHeader({ alg: "RS256", kid: jwks.keys[0]!.kid })
        .sign(rogue),
      "tampered payload (scopes widened)": `${h}.${enc({ ...payload, scopes: ["admin:all"] })}.${s}`,
      "tampered signature": `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`,
      "alg none": `${enc({ alg: "none", typ: "JWT", kid: jwks.keys[0]!.kid })}.${p}.`,
      "HS256 keyed with the public key": await new SignJWT({ ...payload })
        .setProtectedHeader({ alg: "HS256", kid: jwks.keys[0]!.kid })
        .sign(new TextEncoder().encode(jwks.keys[0]!.n)),
      "not a JWT": "abc.def",
      "missing key_id claim": await signApiKey({ key_id: undefined }),
    };
    for (const [what, token] of Object.entries(forged)) {
      const path = uniquePath();
      const res = await call("GET", path, { headers: { authorization: `Bearer ${token}` } });
      const body = await expectError(res, 401, "invalid_token");
      expect(body.error_description, what).toBe("API key is invalid");
      expect(await originSaw(path), what).toBe(0);
    }
  });

  it("missing scope: 403 insufficient_scope with the required scopes in the challenge", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:read"] });
    // A path of its own: the test origin counts per path, and other files call /api/v1/resources.
    const path = `/api/v1/resources/${crypto.randomUUID()}`;
    const res = await call("POST", path, { token: key.api_key, body: { name: "x" } });
    await expectError(res, 403, "insufficient_scope");
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="keygate", error="insufficient_scope", error_description="API key does not have required permissions", scope="api:write"',
    );
    expect(await originSaw(path)).toBe(0);
  });

  it("percent-encoding, case or dot segments cannot dodge a scope rule; doubled slashes are refused", async () => {
    const key = await createKey(freshTenant(), { scopes: ["deploy:staging"] });
    // (The runtime's URL parser resolves "x/%2e%2e" itself before keygate sees the path.)
    for (const path of ["/api/v1/%72esources", "/api/v1/x/%2e%2e/resources"]) {
      await expectError(await call("GET", path, { token: key.api_key }), 403, "insufficient_scope");
    }
    for (const path of ["/API/V1/Resources", "/api/v1/%E0%A4%A", "//api/v1/resources/"]) {
      await expectError(await call("GET", path, { token: key.api_key }), 400, "invalid_request");
    }
  });
});

describe("gateway: route policy", () => {
  it("any-of scopes: either listed scope passes", async () => {
    const read = await createKey(freshTenant(), { scopes: ["api:read"] });
    expect((await call("GET", "/api/v1/resources", { token: read.api_key })).status).toBe(200);
    const deploy = await createKey(freshTenant(), { scopes: ["deploy:production"] });
    expect((await call("POST", "/api/v1/deploy", { token: deploy.api_key, body: {} })).status).toBe(200);
    await expectError(await call("GET", "/api/v1/resources", { token: deploy.api_key }), 403, "insufficient_scope");
  });

  it("admin:all satisfies every rule", async () => {
    const admin = await createKey(freshTenant(), { scopes: ["admin:all"] });
    expect((await call("POST", "/api/v1/resources", { token: admin.api_key, body: {} })).status).toBe(200);
    expect((await call("POST", "/api/v1/deploy", { token: admin.api_key, body: {} })).status).toBe(200);
    expect((await call("DELETE", "/api/v1/admin/users/1", { token: admin.api_key })).status).toBe(200);
  });

  it("public rules need no key; HEAD follows GET rules", async () => {
    expect((await call("GET", "/health")).status).toBe(200);
    expect((await call("HEAD", "/health")).status).toBe(200);
    await expectError(await call("POST", "/health"), 401, "invalid_token");
  });

  it("unmatched paths need any valid key by default, and are 404 with UNMATCHED_ROUTES=deny", async () => {
    const key = await createKey(freshTenant(), { scopes: ["billing:manage"] });
    expect((await call("GET", uniquePath("/anything"), { token: key.api_key })).status).toBe(200);
    const path = uniquePath("/anything");
    await expectError(await callWithEnv({ UNMATCHED_ROUTES: "deny" }, "GET", path, key.api_key), 404, "not_found");
    expect((await callWithEnv({ UNMATCHED_ROUTES: "deny" }, "GET", "/api/v1/resources", key.api_key)).status).toBe(403);
    expect(await originSaw(path)).toBe(0);
  });

  it("a broken ROUTE_POLICY is a generic 500 for the gateway but leaves the management API working", async () => {
    const broken = { ROUTE_POLICY: '[{"path":"/x","scopes":["no:such"]}]' };
    const res = await callWithEnv(broken, "GET", uniquePath());
    const body = await expectError(res, 500, "server_error");
    expect(body.error_description).not.toMatch(/no:such/);
    expect((await callWithEnv(broken, "GET", "/api/v1/scopes")).status).toBe(200);
  });
});

describe("gateway: origin failures", () => {
  it("origin unreachable: 502 bad_gateway", async () => {
    const key = await createKey(freshTenant());
    await expectError(await callWithEnv({ ORIGIN_URL: "http://127.0.0.1:9" }, "GET", uniquePath(), key.api_key), 502, "bad_gateway");
  });

  it("origin slower than ORIGIN_TIMEOUT_MS: 504 gateway_timeout", async () => {
    const key = await createKey(freshTenant());
    const path = `/slow/${crypto.randomUUID()}?ms=3000`;
    await expectError(await callWithEnv({ ORIGIN_TIMEOUT_MS: "100" }, "GET", path, key.api_key), 504, "gateway_timeout");
    // That the abandoned origin request is closed is checked end to end (test/e2e/gateway.test.ts):
    // here the test's own context never ends, so nothing is torn down.
  });
});

describe("gateway: streaming", () => {
  const TEN_MIB = 10 * 1024 * 1024;

  it("streams a 10 MiB upload to the origin intact", async () => {
    const key = await createKey(freshTenant(), { scopes: ["api:write"] });
    const data = new Uint8Array(TEN_MIB);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const res = await call("POST", "/upload", {
      token: key.api_key,
      rawBody: data,
      headers: { "content-type": "application/octet-stream" },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.body.bytes).toBe(TEN_MIB);
    expect(echo.body.sha256).toBe(expected);
  });

  it("streams a 10 MiB download from the origin intact", async () => {
    const key = await createKey(freshTenant());
    const res = await call("GET", `/download?bytes=${TEN_MIB}`, { token: key.api_key });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.length).toBe(TEN_MIB);
    expect(new TextDecoder().decode(body.subarray(0, 16))).toBe("keygate-keygate-");
  });
});

describe("gateway: last_used", () => {
  it("comes from the usage roll-up, off the request path, and appears in list", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const before = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 5; i++) await call("GET", uniquePath(), { token: key.api_key });
    await usageRecorded(key.id);
    const list = (await (
      await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: await userToken({ tenants: [tenant] }) })
    ).json()) as { last_used: number }[];
    expect(list[0]?.last_used).toBeGreaterThanOrEqual(before);
    // A refusal is not a use.
    const revoked = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    await call("GET", uniquePath(), { token: revoked.api_key });
    // Once the refusal is rolled up (the step that moves last_used), last_used has not moved.
    const refusals = await eventually(
      async () =>
        (
          await env.DB.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM usage_counts WHERE key_id = ? AND granularity = 'minute'")
            .bind(revoked.id)
            .first<{ n: number }>()
        )?.n ?? 0,
      (n) => n >= 1,
    );
    expect(refusals).toBe(1);
    expect(await lastUsedOf(revoked.id)).toBeNull();
  });

  it("without the usage pipeline the gateway writes it itself, at most once per interval", async () => {
    const key = await createKey(freshTenant());
    const off = { USAGE_EVENTS: "off" };
    await call("GET", uniquePath(), { token: key.api_key, env: off });
    expect(await lastUsedOf(key.id)).toEqual(expect.any(Number));
    await env.DB.prepare("UPDATE api_keys SET last_used = NULL WHERE id = ?").bind(key.id).run();
    for (let i = 0; i < 5; i++) await call("GET", uniquePath(), { token: key.api_key, env: off });
    expect(await lastUsedOf(key.id)).toBeNull();
  });
});
