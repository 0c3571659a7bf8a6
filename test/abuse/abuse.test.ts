/**
 * Per-key IP allowlists and brute-force throttling of clients that keep failing to authenticate,
 * on the gateway and the management API (with the real Workers Rate Limiting binding).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  auditRows,
  call,
  countKeys,
  createKey,
  expectError,
  foreignRefusals,
  freshTenant,
  originSaw,
  signApiKey,
  userToken,
} from "../helpers/worker";

function uniquePath(): string {
  return `/api/v1/abuse/${crypto.randomUUID()}`;
}

/** A client address of its own per test: throttling state is per client and per isolate. */
function freshIp(): string {
  const b = crypto.getRandomValues(new Uint8Array(3));
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}

describe("allowed_ips", () => {
  it("admits listed IPv4 and IPv6 addresses and ranges, refuses every other client before the origin", async () => {
    const key = await createKey(freshTenant(), { allowed_ips: ["203.0.113.0/24", "2001:db8:abcd::/48", "198.51.100.7"] });
    expect((key as unknown as { allowed_ips: string[] }).allowed_ips).toEqual(["203.0.113.0/24", "2001:db8:abcd::/48", "198.51.100.7"]);
    const path = uniquePath();
    const from = (ip: string | undefined) =>
      call("GET", path, { token: key.api_key, headers: ip === undefined ? {} : { "cf-connecting-ip": ip } }).then(async (r) => {
        await r.clone().arrayBuffer();
        return r;
      });
    for (const ip of ["203.0.113.1", "203.0.113.254", "2001:db8:abcd:12::1", "2001:DB8:ABCD::ff", "198.51.100.7", "::ffff:203.0.113.9"]) {
      expect((await from(ip)).status, ip).toBe(200);
    }
    for (const ip of ["203.0.114.1", "198.51.100.8", "2001:db8:abce::1", "::1", "not-an-ip", undefined]) {
      const res = await from(ip);
      const body = await expectError(res, 403, "access_denied");
      expect(body.error_description).toBe("API key may not be used from this IP address");
    }
    expect(await originSaw(path)).toBe(6);
  });

  it("refuses invalid entries with a 400 naming the entry, and writes nothing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const cases: [unknown, RegExp][] = [
      [["10.0.0.1/8"], /^allowed_ips\[0\] "10.0.0.1\/8" has host bits set; did you mean 10.0.0.0\/8\?/],
      [["192.0.2.0/24", "300.1.1.1"], /^allowed_ips\[1\] "300.1.1.1" is not an IPv4 or IPv6 address or CIDR range/],
      [["2001:db8::/129"], /^allowed_ips\[0\] "2001:db8::\/129" has a prefix length outside 0-128/],
      [["10.0.0.0/33"], /prefix length outside 0-32/],
      [["1:2:3:4:5:6:7:8:9"], /is not an IPv4 or IPv6 address/],
      [[42], /^allowed_ips must be an array of strings/],
      ["10.0.0.0/8", /^allowed_ips must be an array of strings/],
      [Array.from({ length: 51 }, (_, i) => `192.0.2.${i}`), /^allowed_ips may hold at most 50 entries/],
    ];
    for (const [allowed_ips, message] of cases) {
      const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
        token,
        body: { name: "x", scopes: ["api:read"], allowed_ips },
      });
      const err = await expectError(res, 400, "invalid_request");
      expect(err.error_description, JSON.stringify(allowed_ips)).toMatch(message);
    }
    expect(await countKeys(tenant)).toBe(0);
  });

  it("canonicalizes entries, rotation inherits the list, PATCH changes or clears it", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const key = await createKey(tenant, { allowed_ips: ["2001:0DB8:0000:0000::/64", "192.0.2.1", "192.0.2.1"] });
    expect((key as unknown as { allowed_ips: string[] }).allowed_ips).toEqual(["2001:db8::/64", "192.0.2.1"]);
    const rotated = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/rotate`, { token });
    const next = (await rotated.json()) as { id: string; api_key: string; allowed_ips: string[] };
    expect(next.allowed_ips).toEqual(["2001:db8::/64", "192.0.2.1"]);
    const path = uniquePath();
    await expectError(await call("GET", path, { token: next.api_key, headers: { "cf-connecting-ip": "192.0.2.2" } }), 403, "access_denied");
    const patched = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${next.id}`, { token, body: { allowed_ips: ["192.0.2.0/30"] } });
    expect(((await patched.json()) as { allowed_ips: string[] }).allowed_ips).toEqual(["192.0.2.0/30"]);
    expect((await call("GET", path, { token: next.api_key, headers: { "cf-connecting-ip": "192.0.2.2" } })).status).toBe(200);
    await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${next.id}`, { token, body: { allowed_ips: null } });
    expect((await call("GET", path, { token: next.api_key, headers: { "cf-connecting-ip": "198.51.100.1" } })).status).toBe(200);
  });

  it("applies to a management key's own management calls", async () => {
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage"], expires_in_days: 0, allowed_ips: ["192.0.2.0/24"] });
    const list = (ip: string) =>
      call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, { token: manager.api_key, headers: { "cf-connecting-ip": ip } });
    expect((await list("192.0.2.10")).status).toBe(200);
    await expectError(await list("198.51.100.10"), 403, "access_denied");
  });
});

describe("brute-force throttling", () => {
  it("past AUTH_FAILURE_LIMIT failures a client gets 429 before any signature work; keys it already used keep working", async () => {
    const ip = freshIp();
    const limits = { AUTH_FAILURE_LIMIT: "3" };
    const good = await createKey(freshTenant());
    const path = uniquePath();
    const get = (token: string | undefined, extra: Record<string, string> = {}) =>
      call("GET", path, { token, headers: { "cf-connecting-ip": ip, ...extra }, env: limits });
    // This isolate has verified the good key before the attack starts.
    expect((await get(good.api_key)).status).toBe(200);
    const failures = [
      await get("not-a-jwt"),
      await get(await signApiKey({ exp: Math.floor(Date.now() / 1000) - 10 })),
      await get(undefined),
    ];
    expect(failures.map((r) => r.status)).toEqual([401, 401, 401]);
    // The fourth failure is past the limit.
    const throttled = await get("still-not-a-jwt");
    const body = await expectError(throttled, 429, "rate_limited");
    expect(body.error_description).toBe("Too many failed authentication attempts");
    const retryAfter = Number(throttled.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Even a genuine key this isolate has not seen is not verified for a throttled client...
    const fresh = await createKey(freshTenant());
    await expectError(await get(fresh.api_key), 429, "rate_limited");
    // ... while a key it already verified still works, and other clients are unaffected.
    expect((await get(good.api_key)).status).toBe(200);
    expect((await call("GET", path, { token: "not-a-jwt", headers: { "cf-connecting-ip": freshIp() }, env: limits })).status).toBe(401);
    expect((await call("GET", path, { token: fresh.api_key, headers: { "cf-connecting-ip": freshIp() }, env: limits })).status).toBe(200);
    // The good key twice and the fresh key from another client: nothing else reached the origin.
    expect(await originSaw(path)).toBe(3);
  });

  it("revoked and rotated keys count as failures too", async () => {
    const ip = freshIp();
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const get = () =>
      call("GET", uniquePath(), { token: key.api_key, headers: { "cf-connecting-ip": ip }, env: { AUTH_FAILURE_LIMIT: "2" } });
    expect([(await get()).status, (await get()).status, (await get()).status]).toEqual([401, 401, 429]);
  });

  it("follows the Workers Rate Limiting binding when other isolates saw the failures", async () => {
    // AUTH_FAILURE_LIMIT is far above the binding's own limit (wrangler.toml's AUTH_FAILURES `limit`), as
    // when the failures were spread over many isolates: the binding's verdict throttles the client.
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 23; i++) {
      const res = await call("GET", uniquePath(), {
        token: `garbage-${i}`,
        headers: { "cf-connecting-ip": ip },
        env: { AUTH_FAILURE_LIMIT: "1000" },
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it("throttles the management API too, and counts one refusal per throttled burst (outside the tenant's audit log)", async () => {
    const ip = freshIp();
    const tenant = freshTenant();
    const list = (headers: Record<string, string>) =>
      call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, {
        headers: { "cf-connecting-ip": ip, ...headers },
        env: { AUTH_FAILURE_LIMIT: "3" },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await list({ authorization: `Bearer forged-${i}` })).status);
    for (let i = 0; i < 10; i++) statuses.push((await list({ authorization: "Bearer forged" })).status);
    expect(statuses).toEqual([401, 401, 401, ...Array(10).fill(429)]);
    // A user with a valid token from the same client is throttled as well: no token is verified.
    const res = await list({ authorization: `Bearer ${await userToken({ tenants: [tenant] })}` });
    await expectError(res, 429, "rate_limited");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    // Nobody authenticated: the tenant's audit log holds nothing; the operator's counts hold one per burst.
    expect(await auditRows(tenant)).toEqual([]);
    expect((await foreignRefusals(tenant)).map((r) => [r.actor_kind, r.error, r.count, r.last_ip])).toEqual([
      ["anonymous", "invalid_token", 3, ip],
      ["anonymous", "rate_limited", 1, ip],
    ]);
  });

  it("counts 403 access_denied like 401: a credential probing other tenants is throttled", async () => {
    const ip = freshIp();
    const token = await userToken({ tenants: [freshTenant()] });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call("GET", `/api/v1/tenant/${freshTenant()}/api-keys/list`, {
        token,
        headers: { "cf-connecting-ip": ip },
        env: { AUTH_FAILURE_LIMIT: "3" },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([403, 403, 403, 429, 429]);
  });

  it("counts a management key used from outside its allowlist like a 401, in its own tenant's audit log", async () => {
    const ip = freshIp();
    const tenant = freshTenant();
    const manager = await createKey(tenant, { scopes: ["keys:manage"], allowed_ips: ["192.0.2.0/24"] });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, {
        token: manager.api_key,
        headers: { "cf-connecting-ip": ip },
        env: { AUTH_FAILURE_LIMIT: "2" },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([403, 403, 429, 429]);
    // The tenant's own key: a member, so its refusals are the tenant's to see. The throttled burst
    // was refused before any credential was read: nobody known, so it is the operator's count.
    expect((await auditRows(tenant)).slice(1).map((r) => [r.actor_id, r.error])).toEqual([
      [manager.id, "access_denied"],
      [manager.id, "access_denied"],
    ]);
    expect((await foreignRefusals(tenant)).map((r) => [r.actor_kind, r.error, r.count])).toEqual([["anonymous", "rate_limited", 1]]);
  });

  it("counts a tenant's own low-scope key on its management routes: it cannot write the tenant's audit log without limit", async () => {
    const ip = freshIp();
    const tenant = freshTenant();
    const reader = await createKey(tenant, { scopes: ["api:read"] });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, {
        token: reader.api_key,
        headers: { "cf-connecting-ip": ip, "user-agent": `spam-${i}` },
        env: { AUTH_FAILURE_LIMIT: "2" },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([403, 403, 429, 429, 429, 429]);
    // Its creation, then two refusals: the rest of the burst is one operator count.
    expect((await auditRows(tenant)).slice(1).map((r) => [r.actor_id, r.error])).toEqual([
      [reader.id, "insufficient_scope"],
      [reader.id, "insufficient_scope"],
    ]);
    expect((await foreignRefusals(tenant)).map((r) => [r.actor_kind, r.error, r.count])).toEqual([["anonymous", "rate_limited", 1]]);
  });

  it("a revoked or expired key of the tenant is an outsider: its refusals are the operator's count, not the tenant's log", async () => {
    const tenant = freshTenant();
    const revoked = await createKey(tenant, { scopes: ["keys:manage"] });
    const expired = await createKey(tenant, { scopes: ["keys:manage"] });
    const admin = await userToken({ tenants: [tenant] });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token: admin });
    // Expired by its row (the token's own exp is a signature-level refusal that names no key).
    await env.DB.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
      .bind(Math.floor(Date.now() / 1000) - 10, expired.id)
      .run();
    const before = await auditRows(tenant);
    for (const key of [revoked, revoked, expired]) {
      const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list`, {
        token: key.api_key,
        headers: { "cf-connecting-ip": freshIp() },
      });
      await expectError(res, 401, "invalid_token");
    }
    expect(await auditRows(tenant)).toEqual(before);
    expect((await foreignRefusals(tenant)).map((r) => [r.actor_kind, r.actor_id, r.error, r.count]).sort()).toEqual(
      [
        ["key", revoked.id, "invalid_token", 2],
        ["key", expired.id, "invalid_token", 1],
      ].sort(),
    );
  });

  it("counts an IPv6 client by its /64 and an IPv4-mapped client as its IPv4 address", async () => {
    // A random /64: 2001:<two random words>:a::/64.
    const prefix = `${Array.from(crypto.getRandomValues(new Uint16Array(2)), (w) => w.toString(16)).join(":")}:a`;
    const v4 = freshIp();
    const limits = { AUTH_FAILURE_LIMIT: "2" };
    const get = (ip: string) => call("GET", uniquePath(), { token: "not-a-jwt", headers: { "cf-connecting-ip": ip }, env: limits });
    // Three addresses of one /64 (written three ways) are one client.
    const v6 = [`2001:${prefix}::1`, `2001:${prefix}:ffff:ffff:ffff:ffff`, `2001:${prefix.toUpperCase()}:0000::abcd`];
    expect([(await get(v6[0]!)).status, (await get(v6[1]!)).status, (await get(v6[2]!)).status]).toEqual([401, 401, 429]);
    // The next /64 is another client.
    expect((await get(`2001:${prefix.slice(0, -1)}b::1`)).status).toBe(401);
    // IPv4 and its IPv4-mapped IPv6 form are one client.
    expect([(await get(v4)).status, (await get(`::ffff:${v4}`)).status, (await get(v4)).status]).toEqual([401, 401, 429]);
  });

  it("does not count a valid credential lacking a scope as a failure", async () => {
    const ip = freshIp();
    const tenant = freshTenant();
    const key = await createKey(tenant, { scopes: ["api:read"] });
    for (let i = 0; i < 5; i++) {
      const res = await call("POST", `/api/v1/resources/${crypto.randomUUID()}`, {
        token: key.api_key,
        headers: { "cf-connecting-ip": ip },
        env: { AUTH_FAILURE_LIMIT: "2" },
      });
      await expectError(res, 403, "insufficient_scope");
    }
    expect(env.AUTH_FAILURES).toBeDefined();
  });
});
