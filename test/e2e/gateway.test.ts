/**
 * The data plane end to end: the real dev server (wrangler dev, workerd) in front of a real Node
 * origin on 127.0.0.1. Everything a client sends crosses real sockets both ways.
 */
import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import { importJWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { type Keygate, startKeygate } from "./harness";

let origin: TestOrigin;
let kg: Keygate;
let user: string;
const tenant = "acme";
/** Short enough for the timeout test, long enough for a 10 MiB body or a burst on a loaded machine. */
const ORIGIN_TIMEOUT_MS = 5_000;
/** The slow origin's answer comes well after ORIGIN_TIMEOUT_MS. */
const SLOW_ORIGIN_MS = 20_000;

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: { bytes: number; sha256: string; text: string };
}

async function createKey(body: Record<string, unknown>): Promise<{ id: string; api_key: string }> {
  const res = await fetch(`${kg.url}/api/v1/tenant/${tenant}/api-keys/create`, {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "e2e", scopes: ["api:read"], expires_in_days: 1, ...body }),
  });
  expect(res.status, kg.logs()).toBe(201);
  return res.json() as Promise<{ id: string; api_key: string }>;
}

async function seen(path: string): Promise<number> {
  return ((await (await fetch(`${origin.url}/__seen${path}`)).json()) as { count: number }).count;
}

function get(path: string, headers: Record<string, string> = {}) {
  return fetch(`${kg.url}${path}`, { headers });
}

/** A request with the path exactly as given: node:http sends it without a URL parser resolving anything. */
function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(kg.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path, headers }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  origin = await startTestOrigin();
  kg = await startKeygate({ vars: { ORIGIN_URL: origin.url, ORIGIN_TIMEOUT_MS: String(ORIGIN_TIMEOUT_MS) } });
  user = await kg.userToken([tenant]);
});

afterAll(async () => {
  await kg?.stop();
  await origin?.close();
});

describe("gateway end to end", () => {
  it("forwards a valid key with identity headers and strips spoofed ones", async () => {
    const key = await createKey({ scopes: ["api:read", "api:write"] });
    const res = await get(`/echo/${randomUUID()}?q=1&q=2`, {
      authorization: `Bearer ${key.api_key}`,
      "x-keygate-tenant": "victim",
      "X-Keygate-Scopes": "admin:all",
    });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.url).toMatch(/\?q=1&q=2$/);
    expect(echo.headers["x-keygate-key-id"]).toBe(key.id);
    expect(echo.headers["x-keygate-tenant"]).toBe(tenant);
    expect(echo.headers["x-keygate-scopes"]).toBe("api:read api:write");
    expect(echo.headers["x-keygate-subject"]).toBe("user-123");
    expect(echo.headers.authorization).toBe(`Bearer ${key.api_key}`);
    expect(echo.headers["x-forwarded-proto"]).toBe("http");
  });

  it("serves a burst of concurrent first requests for a new key without errors", async () => {
    // Regression: isolate caches once shared in-flight promises between requests, and workerd
    // refuses I/O done on behalf of another request (500s under load).
    for (let round = 0; round < 3; round++) {
      const key = await createKey({});
      const statuses = await Promise.all(
        Array.from({ length: 64 }, async () => (await get(`/echo/burst-${round}`, { authorization: `Bearer ${key.api_key}` })).status),
      );
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    }
  });

  it("lets public routes through without a key", async () => {
    const res = await get("/health");
    expect(res.status).toBe(200);
  });

  it("refuses bad keys with the seed's bodies before they reach the origin", async () => {
    const valid = await createKey({});
    const revoked = await createKey({});
    const revoke = await fetch(`${kg.url}/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${user}` },
    });
    expect(revoke.status).toBe(200);
    const signing = await importJWK(kg.signingJwk, "RS256");
    const [h, p, s] = valid.api_key.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const jwks = (await (await fetch(`${kg.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; n: string }[] };
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, number, string, string][] = [
      [
        "expired",
        await new SignJWT({ ...payload, iat: now - 100, exp: now - 10 })
          .setProtectedHeader({ typ: "keygate+jwt", alg: "RS256", kid: kg.signingJwk.kid })
          .sign(signing),
        401,
        "invalid_token",
        "API key has expired",
      ],
      ["revoked", revoked.api_key, 401, "invalid_token", "API key has been revoked"],
      [
        "wrong audience",
        await new SignJWT({ ...payload, aud: "other" }).setProtectedHeader({ alg: "RS256", kid: kg.signingJwk.kid }).sign(signing),
        401,
        "invalid_token",
        "API key is invalid",
      ],
      [
        "unknown kid",
        await new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid: "kg-unknown" }).sign(signing),
        401,
        "invalid_token",
        "API key is invalid",
      ],
      ["alg none", `${b64({ alg: "none", kid: kg.signingJwk.kid })}.${p}.`, 401, "invalid_token", "API key is invalid"],
      [
        "HS256 with the public key",
        await new SignJWT(payload)
          .setProtectedHeader({ alg: "HS256", kid: kg.signingJwk.kid })
          .sign(new TextEncoder().encode(jwks.keys[0]!.n)),
        401,
        "invalid_token",
        "API key is invalid",
      ],
      ["tampered", `${h}.${b64({ ...payload, scopes: ["admin:all"] })}.${s}`, 401, "invalid_token", "API key is invalid"],
    ];
    for (const [what, token, status, error, description] of cases) {
      const path = `/echo/${randomUUID()}`;
      const res = await get(path, { authorization: `Bearer ${token}` });
      expect(res.status, what).toBe(status);
      expect(await res.json(), what).toEqual({ error, error_description: description });
      expect(res.headers.get("www-authenticate"), what).toMatch(/^Bearer realm="keygate", error="invalid_token"/);
      expect(await seen(path), what).toBe(0);
    }
    const noKey = await get("/echo/x");
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get("www-authenticate")).toBe('Bearer realm="keygate"');
  });

  it("refuses a missing scope with 403 insufficient_scope", async () => {
    const key = await createKey({ scopes: ["api:read"] });
    const res = await fetch(`${kg.url}/api/v1/resources`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.api_key}` },
      body: "{}",
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: "insufficient_scope", error_description: "API key does not have required permissions" });
    expect(res.headers.get("www-authenticate")).toContain('scope="api:write"');
    expect(await seen("/api/v1/resources")).toBe(0);
  });

  it("refuses path confusion before the origin: an admin path dressed as /health, a DELETE escaping api:write (issue #16)", async () => {
    const admin = `/api/v1/admin/users/${randomUUID()}%2F..%2F..%2F..%2F..%2F..%2Fhealth`;
    const noKey = await raw("GET", admin);
    expect(noKey.status, noKey.body).toBe(400);
    expect(JSON.parse(noKey.body)).toEqual({
      error: "invalid_request",
      error_description: "The request path has a percent-encoded '/' or '\\'",
    });
    expect(await seen(admin.replace(/%/g, "%25"))).toBe(0);

    const key = await createKey({ scopes: ["api:read"] });
    const outOfRule = `/api/v1/resources/${randomUUID()}%2F..%2F..%2F..%2F..%2Felsewhere`;
    const deleted = await raw("DELETE", outOfRule, { authorization: `Bearer ${key.api_key}` });
    expect(deleted.status, deleted.body).toBe(400);
    expect(await seen(outOfRule.replace(/%/g, "%25"))).toBe(0);

    // Whatever the dev server's proxy resolves itself, the origin gets only the path that was judged.
    for (const path of ["/health/../api/v1/admin/x", "/health/%2e%2e/api/v1/admin/x", "/health\\..\\api/v1/admin/x", "/API/v1/Admin/x"]) {
      const res = await raw("GET", path, { authorization: `Bearer ${key.api_key}` });
      expect([400, 403], `${path}: ${res.body}`).toContain(res.status);
    }
  });

  it("gives the origin only headers keygate set: no X-Keygate_* look-alike, one client address", async () => {
    const key = await createKey({});
    const res = await get(`/echo/${randomUUID()}`, {
      authorization: `Bearer ${key.api_key}`,
      "X-Keygate_Tenant": "victim",
      // The dev server believes a client's CF-Connecting-IP (miniflare keeps it); Cloudflare sets its own.
      "CF-Connecting-IP": "203.0.113.9",
      "X-Forwarded-For": "10.0.0.1",
      "X-Real-IP": "10.0.0.2",
      "X-HTTP-Method-Override": "DELETE",
    });
    const echo = (await res.json()) as Echo;
    expect(Object.keys(echo.headers).filter((h) => h.includes("_"))).toEqual([]);
    expect(echo.headers["x-keygate-tenant"]).toBe(tenant);
    expect(echo.headers["x-keygate-client-ip"]).toBe("203.0.113.9");
    expect(echo.headers["x-forwarded-for"]).toBe("203.0.113.9");
    expect(echo.headers).not.toHaveProperty("cf-connecting-ip");
    expect(echo.headers).not.toHaveProperty("x-real-ip");
    expect(echo.headers).not.toHaveProperty("x-http-method-override");
  });

  it("streams a 10 MiB upload and a 10 MiB download intact", async () => {
    const key = await createKey({ scopes: ["api:write"] });
    const size = 10 * 1024 * 1024;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) & 0xff;
    const up = await fetch(`${kg.url}/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.api_key}`, "content-type": "application/octet-stream" },
      body: data,
    });
    expect(up.status).toBe(200);
    const echo = (await up.json()) as Echo;
    expect(echo.body.bytes).toBe(size);
    expect(echo.body.sha256).toBe(createHash("sha256").update(data).digest("hex"));

    const down = await get(`/download?bytes=${size}`, { authorization: `Bearer ${key.api_key}` });
    expect(down.status).toBe(200);
    const body = Buffer.from(await down.arrayBuffer());
    expect(body.length).toBe(size);
    expect(body.subarray(0, 8).toString()).toBe("keygate-");
  });

  it("answers 504 when the origin is slower than ORIGIN_TIMEOUT_MS, and closes the abandoned request", async () => {
    const key = await createKey({});
    const path = `/slow/${randomUUID()}`;
    const res = await get(`${path}?ms=${SLOW_ORIGIN_MS}`, { authorization: `Bearer ${key.api_key}` });
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: string }).error).toBe("gateway_timeout");
    // The origin sees its connection closed well before its answer: nothing is left running.
    const abandoned = await eventually(
      () => seen(`/__abandoned${path}`),
      (n) => n > 0,
      SLOW_ORIGIN_MS - ORIGIN_TIMEOUT_MS - 5_000,
      100,
    );
    expect(abandoned).toBe(1);
  });

  it("shows last_used in list after the key is used", async () => {
    const key = await createKey({});
    await get(`/echo/${randomUUID()}`, { authorization: `Bearer ${key.api_key}` });
    // Written by the usage roll-up: within a few seconds (USAGE_FLUSH_MS, then the queue's batch).
    const lastUsed = await eventually(
      async () => {
        const list = (await (await get(`/api/v1/tenant/${tenant}/api-keys/list`, { authorization: `Bearer ${user}` })).json()) as {
          id: string;
          last_used: number | null;
        }[];
        return list.find((k) => k.id === key.id)?.last_used ?? null;
      },
      (value) => value !== null,
      12_000,
    );
    expect(lastUsed).toEqual(expect.any(Number));
  });

  // Last: it takes the origin down.
  it("answers 502 when the origin is unreachable", async () => {
    const key = await createKey({});
    await origin.close();
    const res = await get("/echo/after-origin-died", { authorization: `Bearer ${key.api_key}` });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({ error: "bad_gateway", error_description: "The origin could not be reached" });
  });
});
