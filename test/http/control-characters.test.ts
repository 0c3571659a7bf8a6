/**
 * No stored string holds a control character (DESIGN.md invariant 10): client input holding one is
 * a 400 naming the field that changes nothing; text derived from a request is stored escaped.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { INPUT_MAX_DEPTH } from "../../src/http/validate";
import { hasControlCharacters } from "../../src/lib/control-characters";
import { escapeControlCharacters } from "../../src/lib/escape-control-characters";
import { auditRows, call, countKeys, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const ESC = "\u001b";

describe("control characters", () => {
  it("escapes C0, DEL and C1 as \\u escapes and leaves other text alone", () => {
    expect(escapeControlCharacters(`a${ESC}[31mb\r\n\u007f\u009b\u0000`)).toBe("a\\u001b[31mb\\u000d\\u000a\\u007f\\u009b\\u0000");
    expect(escapeControlCharacters("ünïcödé ✓ \u200b")).toBe("ünïcödé ✓ \u200b");
    expect(hasControlCharacters(escapeControlCharacters(`${ESC}\u0085`))).toBe(false);
  });

  it("refuses them anywhere in a request body with a 400 naming the field, and stores nothing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const create = (body: Record<string, unknown>) =>
      call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: { name: "ok", scopes: ["api:read"], ...body } });
    const cases: [Record<string, unknown>, string][] = [
      [{ name: `deploy${ESC}]0;pwned\u0007` }, "name must not contain control characters"],
      [{ name: "trailing newline\n" }, "name must not contain control characters"],
      [{ name: "c1\u009b31m" }, "name must not contain control characters"],
      [{ scopes: ["api:read", `api:write${ESC}`] }, "scopes[1] must not contain control characters"],
      [{ allowed_ips: [`10.0.0.0/8${ESC}`] }, "allowed_ips[0] must not contain control characters"],
    ];
    for (const [body, message] of cases) {
      const err = await expectError(await create(body), 400, "invalid_request");
      expect(err.error_description, JSON.stringify(body)).toBe(message);
    }
    expect(await countKeys(tenant)).toBe(0);

    const key = await createKey(tenant);
    const patch = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, {
      token,
      body: { metadata: { team: { owner: `a${ESC}b` } } },
    });
    expect((await expectError(patch, 400, "invalid_request")).error_description).toBe(
      "metadata.team.owner must not contain control characters",
    );
    const fieldName = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { metadata: { [`k${ESC}`]: 1 } } });
    expect((await expectError(fieldName, 400, "invalid_request")).error_description).toBe(
      "metadata (a field name) must not contain control characters",
    );
    const revoke = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, {
      token,
      body: { reason: `leaked\r\nINFO forged` },
    });
    expect((await expectError(revoke, 400, "invalid_request")).error_description).toBe("reason must not contain control characters");
    const row = await env.DB.prepare("SELECT revoked, metadata FROM api_keys WHERE id = ?").bind(key.id).first();
    expect(row).toEqual({ revoked: 0, metadata: null });

    const hook = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token,
      body: { url: `https://hooks.example.com/${ESC}[2J`, events: ["key.revoked"] },
    });
    expect((await expectError(hook, 400, "invalid_request")).error_description).toBe("url must not contain control characters");
    const query = await call("GET", `/api/v1/tenant/${tenant}/audit-log?key_id=%1B%5B2J`, { token });
    expect((await expectError(query, 400, "invalid_request")).error_description).toBe("key_id must not contain control characters");
    const report = await call("POST", "/api/v1/leaks/report", { body: { token: key.api_key, url: `https://gist.example/${ESC}` } });
    expect((await expectError(report, 400, "invalid_request")).error_description).toBe("url must not contain control characters");
  });

  it("refuses input nested deeper than INPUT_MAX_DEPTH with a 400, so nothing below it goes unread or overflows a schema", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const key = await createKey(tenant);
    const patch = (metadata: unknown) => call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { metadata } });
    // A control character 33 objects down (248 bytes): the walk used to stop at 32 and let it through.
    let deep: unknown = `${ESC}]0;pwned\u0007${ESC}[2J`;
    for (let i = 0; i < 33; i++) deep = { a: deep };
    const tooDeep = await expectError(await patch({ m: deep }), 400, "invalid_request");
    expect(tooDeep.error_description).toBe(
      `metadata.m${".a".repeat(INPUT_MAX_DEPTH - 2)} is nested too deeply (at most ${INPUT_MAX_DEPTH} levels)`,
    );
    // 3,000 nested arrays (about 6 KB): zod's recursion used to overflow the stack, a 500.
    const arrays = await patch({ m: JSON.parse(`${"[".repeat(3000)}${"]".repeat(3000)}`) });
    expect((await expectError(arrays, 400, "invalid_request")).error_description).toMatch(/^metadata\.m(\[0\])+ is nested too deeply/);
    const row = await env.DB.prepare("SELECT metadata FROM api_keys WHERE id = ?").bind(key.id).first();
    expect(row).toEqual({ metadata: null });
    // Within the depth, metadata is stored as sent.
    let ok: unknown = "fine";
    for (let i = 0; i < INPUT_MAX_DEPTH - 3; i++) ok = { a: ok };
    expect((await patch({ m: ok })).status).toBe(200);
  });

  it("stores the User-Agent and an identity provider's subject escaped", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant], sub: `mallory${ESC}[2J` });
    const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
      token,
      body: { name: "k", scopes: ["api:read"] },
      headers: { "user-agent": `curl${ESC}[31m/8` },
    });
    expect(res.status).toBe(201);
    const [entry] = await auditRows(tenant);
    expect(entry).toMatchObject({ actor_id: "mallory\\u001b[2J", user_agent: "curl\\u001b[31m/8" });
    const key = await env.DB.prepare("SELECT created_by, subject FROM api_keys WHERE tenant_id = ?").bind(tenant).first();
    expect(key).toEqual({ created_by: "user:mallory\\u001b[2J", subject: "mallory\\u001b[2J" });
  });
});
