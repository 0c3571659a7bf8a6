import { describe, expect, it } from "vitest";
import type { AuditEntryView as Entry } from "../../src/audit/service";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

async function audit(tenant: string, query = "", token?: string): Promise<Entry[]> {
  const res = await call("GET", `/api/v1/tenant/${tenant}/audit-log${query}`, { token: token ?? (await userToken({ tenants: [tenant] })) });
  expect(res.status).toBe(200);
  return res.json();
}

describe("GET /api/v1/tenant/{tenant}/audit-log", () => {
  it("records create, update, rotate and revoke with actor, target, outcome and client", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant], sub: "alice" });
    const headers = { "user-agent": "keygate-ci/1.0", "cf-connecting-ip": "192.0.2.1" };
    const base = `/api/v1/tenant/${tenant}/api-keys`;
    const key = (await (await call("POST", `${base}/create`, { token, headers, body: { name: "k", scopes: ["api:read"] } })).json()) as {
      id: string;
    };
    await call("PATCH", `${base}/${key.id}`, { token, headers, body: { name: "k2" } });
    const next = (await (await call("POST", `${base}/${key.id}/rotate`, { token, headers })).json()) as { id: string };
    await call("POST", `${base}/${next.id}/revoke`, { token, headers });

    const entries = await audit(tenant);
    expect(entries.map((e) => [e.action, e.key_id, e.outcome, e.status])).toEqual([
      ["revoke", next.id, "success", 200],
      ["rotate", key.id, "success", 201],
      ["update", key.id, "success", 200],
      ["create", key.id, "success", 201],
    ]);
    for (const e of entries) {
      expect(e).toMatchObject({ actor_kind: "user", actor_id: "alice", ip: "192.0.2.1", user_agent: "keygate-ci/1.0", error: null });
      expect(e.id).toMatch(/^aud-/);
      expect(e.at).toEqual(expect.any(Number));
    }
  });

  it("records refused attempts, including validation failures", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, { token, body: { name: "", scopes: [] } });
    const unknown = `key-${crypto.randomUUID()}`;
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${unknown}/revoke`, { token });
    // Not an id keygate mints: 404, and the text is stored nowhere.
    await expectError(await call("POST", `/api/v1/tenant/${tenant}/api-keys/key-%1B%5B2J/revoke`, { token }), 404, "not_found");
    const entries = await audit(tenant);
    expect(entries.map((e) => [e.action, e.outcome, e.status, e.error, e.key_id])).toEqual([
      ["revoke", "not_found", 404, "not_found", null],
      ["revoke", "not_found", 404, "not_found", unknown],
      ["create", "invalid", 400, "invalid_request", null],
    ]);
  });

  it("filters by key_id, action and since, and pages with cursors", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const a = await createKey(tenant, { name: "a" });
    const b = await createKey(tenant, { name: "b" });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${a.id}/revoke`, { token });
    expect((await audit(tenant, `?key_id=${a.id}`)).map((e) => e.action)).toEqual(["revoke", "create"]);
    expect((await audit(tenant, "?action=create")).map((e) => e.key_id)).toEqual([b.id, a.id]);
    expect(await audit(tenant, `?since=${Math.floor(Date.now() / 1000) + 3600}`)).toEqual([]);

    const first = await call("GET", `/api/v1/tenant/${tenant}/audit-log?limit=2`, { token });
    const cursor = first.headers.get("x-next-cursor");
    expect(cursor).toBeTruthy();
    const second = (await (await call("GET", `/api/v1/tenant/${tenant}/audit-log?limit=2&cursor=${cursor}`, { token })).json()) as Entry[];
    expect([...((await first.json()) as Entry[]), ...second].map((e) => e.action)).toEqual(["revoke", "create", "create"]);
    await expectError(await call("GET", `/api/v1/tenant/${tenant}/audit-log?action=delete`, { token }), 400, "invalid_request");
    await expectError(await call("GET", `/api/v1/tenant/${tenant}/audit-log?since=yesterday`, { token }), 400, "invalid_request");
  });

  it("never leaks entries across tenants", async () => {
    const a = freshTenant();
    const b = freshTenant();
    const keyB = await createKey(b);
    await call("POST", `/api/v1/tenant/${b}/api-keys/${keyB.id}/revoke`, { token: await userToken({ tenants: [b] }) });
    await createKey(a);
    const entries = await audit(a);
    expect(entries).toHaveLength(1);
    expect(await audit(a, `?key_id=${keyB.id}`)).toEqual([]);
    await expectError(
      await call("GET", `/api/v1/tenant/${b}/audit-log`, { token: await userToken({ tenants: [a] }) }),
      403,
      "access_denied",
    );
  });
});
