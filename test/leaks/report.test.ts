/**
 * The anonymous leak report: no credentials, the same 202 and body whatever the token, acted on
 * after the answer (call() waits for that work, as the runtime does), throttled per client.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { AUTH_FAILURE_WINDOW_MS, clearAuthFailures } from "../../src/abuse/auth-failures";
import { updateTenantSettings } from "../../src/alerts/settings";
import { database } from "../../src/db/client";
import { auditRows, call, createKey, expectError, freshTenant, signApiKey, userToken } from "../helpers/worker";

const REPORT = "/api/v1/leaks/report";
const RECEIVED = { message: "Thank you. If this is a live key of this keygate deployment, its owner's leak policy has been applied." };

afterEach(() => {
  clearAuthFailures();
});

function reportLeak(token: string, url = "https://pastebin.example/raw/abc", headers: Record<string, string> = {}) {
  return call("POST", REPORT, { body: { token, url }, headers });
}

async function snapshot(tenant: string) {
  const keys = await env.DB.prepare("SELECT id, revoked, updated_at FROM api_keys WHERE tenant_id = ? ORDER BY seq").bind(tenant).all();
  return { keys: keys.results, audit: await auditRows(tenant) };
}

describe("POST /api/v1/leaks/report", () => {
  it("revokes a live key it is given, with an audit entry naming where it was found", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const res = await reportLeak(key.api_key, "https://pastebin.example/raw/k3y", {
      "cf-connecting-ip": "198.51.100.7",
      "user-agent": "finder/1",
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual(RECEIVED);
    const refused = await call("GET", `/leak-check/${crypto.randomUUID()}`, { token: key.api_key });
    expect((await expectError(refused, 401, "invalid_token")).error_description).toBe("API key has been revoked");
    expect((await auditRows(tenant)).at(-1)).toMatchObject({
      actor_kind: "leak-report",
      actor_id: "public-report",
      action: "revoke",
      target_key_id: key.id,
      status: 202,
      ip: "198.51.100.7",
      user_agent: "finder/1",
      source_url: "https://pastebin.example/raw/k3y",
    });
  });

  it("answers the same for anything else, and changes nothing", async () => {
    const tenant = freshTenant();
    const user = await userToken({ tenants: [tenant] });
    const revoked = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token: user });
    const live = await createKey(tenant);
    const [h, p] = live.api_key.split(".");
    const before = await snapshot(tenant);
    for (const token of [
      revoked.api_key,
      `${h}.${p}.${revoked.api_key.split(".")[2]}`, // forged
      await signApiKey({ tenant }), // signed, unknown to D1
      user,
      "hello",
    ]) {
      const res = await reportLeak(token);
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual(RECEIVED);
    }
    expect(await snapshot(tenant)).toEqual(before);
  });

  it("only records the report when the tenant's leak_action is notify", async () => {
    const tenant = freshTenant();
    await updateTenantSettings(database(env.DB), tenant, { leak_action: "notify" }, Math.floor(Date.now() / 1000));
    const key = await createKey(tenant);
    expect((await reportLeak(key.api_key)).status).toBe(202);
    expect((await call("GET", `/leak-check/${crypto.randomUUID()}`, { token: key.api_key })).status).toBe(200);
    expect((await auditRows(tenant)).at(-1)).toMatchObject({ actor_kind: "leak-report", action: "leak_report", target_key_id: key.id });
  });

  it("throttles a client after AUTH_FAILURE_LIMIT reports a minute, whatever the tokens, on its own budget", async () => {
    const limit = Number(env.AUTH_FAILURE_LIMIT);
    const ip = "203.0.113.99";
    const key = await createKey(freshTenant());
    for (let i = 0; i < limit; i++)
      expect((await reportLeak(`token-${i}`, "https://x.example", { "cf-connecting-ip": ip })).status).toBe(202);
    const throttled = await reportLeak(key.api_key, "https://x.example", { "cf-connecting-ip": ip });
    await expectError(throttled, 429, "rate_limited");
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(throttled.headers.get("retry-after"))).toBeLessThanOrEqual(AUTH_FAILURE_WINDOW_MS / 1000);
    // Not acted on: the throttled report never ran.
    expect(
      (await call("GET", `/leak-check/${crypto.randomUUID()}`, { token: key.api_key, headers: { "cf-connecting-ip": ip } })).status,
    ).toBe(200);
    // Reports are not failed authentications: the same client's bad key is a 401, not a 429.
    await expectError(await call("GET", "/leak-check/x", { token: "nope", headers: { "cf-connecting-ip": ip } }), 401, "invalid_token");
    // Another client is not affected.
    expect((await reportLeak("t", "https://x.example", { "cf-connecting-ip": "203.0.113.100" })).status).toBe(202);
  });

  it("refuses malformed reports naming the field", async () => {
    const cases: [unknown, string][] = [
      [{ url: "https://x" }, "token is required"],
      [{ token: "", url: "https://x" }, "token must not be empty"],
      [{ token: "t" }, "url is required"],
      [{ token: "t", url: "a\nb" }, "url must not contain control characters"],
      [{ token: "t", url: "https://x", extra: 1 }, "unknown field(s): extra"],
    ];
    for (const [body, description] of cases) {
      const err = await expectError(await call("POST", REPORT, { body }), 400, "invalid_request");
      expect(err.error_description).toBe(description);
    }
    const text = await call("POST", REPORT, { rawBody: "token=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
    await expectError(text, 415, "unsupported_media_type");
  });
});
