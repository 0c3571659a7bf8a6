import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, countKeys, expectError, freshTenant, userToken } from "../helpers/worker";

const SEED_BODY = { name: "CI/CD Pipeline Key", scopes: ["api:read", "api:write", "deploy:production"], expires_in_days: 90 };

async function create(tenant: string, body: unknown, extra: { headers?: Record<string, string>; rawBody?: string } = {}) {
  const token = await userToken({ tenants: [tenant] });
  return call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body, ...extra });
}

describe("POST /api/v1/tenant/{tenant}/api-keys/create", () => {
  it("returns the seed's body, field for field, with 201", async () => {
    const tenant = freshTenant();
    const before = Math.floor(Date.now() / 1000);
    const res = await create(tenant, SEED_BODY);
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["id", "name", "api_key", "scopes", "created_at", "expires_at", "last_used", "revoked"]);
    expect(body.id).toMatch(/^key-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(body.name).toBe("CI/CD Pipeline Key");
    expect(body.scopes).toEqual(["api:read", "api:write", "deploy:production"]);
    expect(body.created_at).toBeGreaterThanOrEqual(before);
    expect(body.expires_at).toBe((body.created_at as number) + 90 * 86_400);
    expect(body.last_used).toBeNull();
    expect(body.revoked).toBe(false);
    expect(body.api_key).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await countKeys(tenant)).toBe(1);
  });

  it("makes a non-expiring key when expires_in_days is 0", async () => {
    const tenant = freshTenant();
    const res = await create(tenant, { name: "Permanent Integration Key", scopes: ["api:read"], expires_in_days: 0 });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.expires_at).toBeNull();
  });

  it("defaults expires_in_days to 90 and removes duplicate scopes", async () => {
    const tenant = freshTenant();
    const res = await create(tenant, { name: "k", scopes: ["api:read", "api:read"] });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, number | string[]>;
    expect(body.expires_at).toBe((body.created_at as number) + 90 * 86_400);
    expect(body.scopes).toEqual(["api:read"]);
  });

  it("accepts a JSON content type with a charset and trims the name", async () => {
    const tenant = freshTenant();
    const res = await create(
      tenant,
      { name: "  padded  ", scopes: ["api:read"] },
      { headers: { "content-type": "application/json; charset=utf-8" } },
    );
    expect(res.status).toBe(201);
    expect(((await res.json()) as { name: string }).name).toBe("padded");
  });

  it("accepts names of exactly 200 characters and expires_in_days of 3650", async () => {
    const tenant = freshTenant();
    const res = await create(tenant, { name: "x".repeat(200), scopes: ["admin:read"], expires_in_days: 3650 });
    expect(res.status).toBe(201);
  });

  const invalid: [string, unknown, RegExp][] = [
    ["a missing name", { scopes: ["api:read"], expires_in_days: 1 }, /name is required/],
    ["an empty name", { name: "", scopes: ["api:read"] }, /name must not be empty/],
    ["a blank name", { name: "   ", scopes: ["api:read"] }, /name must not be empty/],
    ["a 201-character name", { name: "x".repeat(201), scopes: ["api:read"] }, /at most 200/],
    ["a name that is not a string", { name: 42, scopes: ["api:read"] }, /name must be a string/],
    ["a name with a newline", { name: "a\nb", scopes: ["api:read"] }, /control characters/],
    ["missing scopes", { name: "k" }, /scopes is required/],
    ["empty scopes", { name: "k", scopes: [] }, /at least one scope/],
    ["scopes that are not an array", { name: "k", scopes: "api:read" }, /scopes must be an array/],
    ["a scope that is not a string", { name: "k", scopes: ["api:read", 7] }, /scopes must be an array of strings/],
    ["an unknown scope", { name: "k", scopes: ["api:read", "root:everything"] }, /unknown scope\(s\): root:everything/],
    ["a negative expires_in_days", { name: "k", scopes: ["api:read"], expires_in_days: -1 }, /expires_in_days/],
    ["expires_in_days over 3650", { name: "k", scopes: ["api:read"], expires_in_days: 3651 }, /expires_in_days/],
    ["a fractional expires_in_days", { name: "k", scopes: ["api:read"], expires_in_days: 1.5 }, /expires_in_days/],
    ["expires_in_days as a string", { name: "k", scopes: ["api:read"], expires_in_days: "90" }, /expires_in_days/],
    ["expires_in_days as null", { name: "k", scopes: ["api:read"], expires_in_days: null }, /expires_in_days/],
    ["an unknown field", { name: "k", scopes: ["api:read"], owner: "me" }, /unknown field\(s\): owner/],
    ["a JSON array", [{ name: "k", scopes: ["api:read"] }], /must be a JSON object/],
    ["JSON null", null, /must be a JSON object/],
  ];
  for (const [what, body, message] of invalid) {
    it(`refuses ${what} with 400 invalid_request and writes nothing`, async () => {
      const tenant = freshTenant();
      const err = await expectError(await create(tenant, body), 400, "invalid_request");
      expect(err.error_description).toMatch(message);
      expect(await countKeys(tenant)).toBe(0);
    });
  }

  it("refuses malformed JSON with 400", async () => {
    const tenant = freshTenant();
    const err = await expectError(
      await create(tenant, undefined, { rawBody: '{"name": "k", scopes: [', headers: { "content-type": "application/json" } }),
      400,
      "invalid_request",
    );
    expect(err.error_description).toMatch(/not valid JSON/);
    expect(await countKeys(tenant)).toBe(0);
  });

  it("refuses an empty body with 400", async () => {
    const tenant = freshTenant();
    const err = await expectError(
      await create(tenant, undefined, { rawBody: "", headers: { "content-type": "application/json" } }),
      400,
      "invalid_request",
    );
    expect(err.error_description).toMatch(/body is required/);
  });

  it("refuses a body that is not application/json with 415", async () => {
    const tenant = freshTenant();
    const res = await create(tenant, undefined, { rawBody: JSON.stringify(SEED_BODY), headers: { "content-type": "text/plain" } });
    await expectError(res, 415, "unsupported_media_type");
    const form = await create(tenant, undefined, {
      rawBody: "name=k&scopes=api:read",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    await expectError(form, 415, "unsupported_media_type");
    expect(await countKeys(tenant)).toBe(0);
  });

  it("refuses an oversized body with 413, whether declared or streamed", async () => {
    const tenant = freshTenant();
    const huge = JSON.stringify({ name: "k", scopes: ["api:read"], padding: "x".repeat(64 * 1024) });
    await expectError(
      await create(tenant, undefined, { rawBody: huge, headers: { "content-type": "application/json" } }),
      413,
      "payload_too_large",
    );
    const token = await userToken({ tenants: [tenant] });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new TextEncoder().encode("x".repeat(1024)));
        controller.close();
      },
    });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token,
      rawBody: stream,
      headers: { "content-type": "application/json" },
    });
    await expectError(res, 413, "payload_too_large");
    expect(await countKeys(tenant)).toBe(0);
  });

  it("refuses a bad tenant id with 400", async () => {
    for (const tenant of ["-leading-dash", "a".repeat(65), "sp%20ace", "semi;colon"]) {
      const token = await userToken({ tenants: [decodeURIComponent(tenant)] });
      const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: SEED_BODY });
      await expectError(res, 400, "invalid_request");
    }
    const { results } = await env.DB.prepare("SELECT id FROM api_keys WHERE tenant_id LIKE '%leading%'").all();
    expect(results).toHaveLength(0);
  });

  it("answers other methods with 405 and an Allow header", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/create`, { token });
    await expectError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("POST");
  });
});
