/**
 * The seed's management examples, run with curl against the real dev server (`npm run dev` path,
 * demo origin included), field for field.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually";
import { type Keygate, startKeygate } from "./harness";

const exec = promisify(execFile);
let kg: Keygate;
let userToken: string;

/** Runs curl like the seed does; returns status and parsed body. */
async function curl(args: string[]): Promise<{ status: number; body: unknown; headers: string }> {
  const { stdout } = await exec("curl", ["-s", "-i", ...args]);
  const split = stdout.indexOf("\r\n\r\n");
  const head = stdout.slice(0, split);
  const text = stdout.slice(split + 4);
  const status = Number(head.split(" ")[1]);
  return { status, headers: head.toLowerCase(), body: text === "" ? null : JSON.parse(text) };
}

beforeAll(async () => {
  kg = await startKeygate();
  userToken = await kg.userToken(["my-tenant"]);
});
afterAll(async () => {
  await kg?.stop();
});

describe("the seed's curl flows against `npm run dev`", () => {
  let created: Record<string, unknown>;

  it("creates an API key with the seed's request and response", async () => {
    const res = await curl([
      "-X",
      "POST",
      `${kg.url}/api/v1/tenant/my-tenant/api-keys/create`,
      "-H",
      "Content-Type: application/json",
      "-H",
      `Authorization: Bearer ${userToken}`,
      "-d",
      `{
    "name": "CI/CD Pipeline Key",
    "scopes": ["api:read", "api:write", "deploy:production"],
    "expires_in_days": 90
  }`,
    ]);
    expect(res.status, kg.logs()).toBe(201);
    created = res.body as Record<string, unknown>;
    expect(Object.keys(created)).toEqual(["id", "name", "api_key", "scopes", "created_at", "expires_at", "last_used", "revoked"]);
    expect(created.id).toMatch(/^key-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(created.name).toBe("CI/CD Pipeline Key");
    expect(created.scopes).toEqual(["api:read", "api:write", "deploy:production"]);
    expect(created.expires_at).toBe((created.created_at as number) + 90 * 86400);
    expect(created.last_used).toBeNull();
    expect(created.revoked).toBe(false);
  });

  it("creates a non-expiring key", async () => {
    const res = await curl([
      "-X",
      "POST",
      `${kg.url}/api/v1/tenant/my-tenant/api-keys/create`,
      "-H",
      "Content-Type: application/json",
      "-H",
      `Authorization: Bearer ${userToken}`,
      "-d",
      `{
    "name": "Permanent Integration Key",
    "scopes": ["api:read"],
    "expires_in_days": 0
  }`,
    ]);
    expect(res.status).toBe(201);
    const body = res.body as Record<string, unknown>;
    expect(body.expires_at).toBeNull();
    const [, payload] = (body.api_key as string).split(".");
    expect(JSON.parse(Buffer.from(payload as string, "base64url").toString())).not.toHaveProperty("exp");
  });

  it("lets an origin verify the key offline through the JWKS", async () => {
    const jwks = createRemoteJWKSet(new URL(`${kg.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(created.api_key as string, jwks, { algorithms: ["RS256"], audience: "your-api" });
    expect(protectedHeader.alg).toBe("RS256");
    expect(payload.key_id).toBe(created.id);
    expect(payload.scopes).toEqual(["api:read", "api:write", "deploy:production"]);
  });

  it("uses the key on a protected resource through the gateway (demo origin)", async () => {
    const res = await curl(["-X", "GET", `${kg.url}/api/v1/protected-resource`, "-H", `Authorization: Bearer ${created.api_key}`]);
    expect(res.status).toBe(200);
    expect((res.body as { keygate: unknown }).keygate).toEqual({
      key_id: created.id,
      tenant: "my-tenant",
      scopes: ["api:read", "api:write", "deploy:production"],
      subject: "user-123",
    });
  });

  it("lists keys with the seed's fields and last_used filled in after use", async () => {
    const list = async () => {
      const res = await curl(["-X", "GET", `${kg.url}/api/v1/tenant/my-tenant/api-keys/list`, "-H", `Authorization: Bearer ${userToken}`]);
      expect(res.status).toBe(200);
      return res.body as Record<string, unknown>[];
    };
    // last_used comes from the usage roll-up, within a few seconds of the use.
    const keys = await eventually(list, (listed) => listed[1]?.last_used !== null);
    await checkList(keys);
  });

  async function checkList(list: Record<string, unknown>[]) {
    expect(list).toHaveLength(2);
    expect(list.map((k) => k.name)).toEqual(["Permanent Integration Key", "CI/CD Pipeline Key"]);
    for (const key of list) {
      expect(Object.keys(key)).toEqual(["id", "name", "scopes", "created_at", "expires_at", "last_used", "revoked"]);
    }
    expect(list[1]?.last_used).toEqual(expect.any(Number));
    expect(list[0]?.last_used).toBeNull();
  }

  it("revokes the key with the seed's response, and the gateway refuses it at once", async () => {
    const res = await curl([
      "-X",
      "POST",
      `${kg.url}/api/v1/tenant/my-tenant/api-keys/${created.id}/revoke`,
      "-H",
      `Authorization: Bearer ${userToken}`,
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, message: "API key revoked successfully" });

    const use = await curl([`${kg.url}/api/v1/protected-resource`, "-H", `Authorization: Bearer ${created.api_key}`]);
    expect(use.status).toBe(401);
    expect(use.body).toEqual({ error: "invalid_token", error_description: "API key has been revoked" });
    expect(use.headers).toContain('www-authenticate: bearer realm="keygate", error="invalid_token"');
  });
});

describe("the OpenAPI document", () => {
  it("is served publicly, cacheably, and is a valid OpenAPI 3.1 document with the seed's examples", async () => {
    const res = await fetch(`${kg.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/^public, max-age=\d+$/);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example: unknown }> } }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      "githubSignature",
      "introspectionKey",
      "managementKey",
      "userToken",
    ]);
    // The seed's create request is the documented example.
    expect(doc.paths["/api/v1/tenant/{tenant}/api-keys/create"]?.post?.requestBody?.content["application/json"]?.example).toEqual({
      name: "CI/CD Pipeline Key",
      scopes: ["api:read", "api:write", "deploy:production"],
      expires_in_days: 90,
    });
  });
});
