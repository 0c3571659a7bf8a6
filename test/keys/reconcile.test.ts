import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-record";
import worker from "../helpers/limited-entry";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

async function runCron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("the scheduled reconciler", () => {
  it("repairs a lost KV write: the revoked key is refused again", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    // The KV write is lost and this isolate forgets what it knew: the edge no longer knows.
    await env.EDGE_RECORDS.delete(`key-state:${key.id}`);
    clearEdgeCache();
    expect((await call("GET", "/api/v1/resources", { token: key.api_key })).status).toBe(200);

    await runCron();
    clearEdgeCache();
    const body = await expectError(await call("GET", "/api/v1/resources", { token: key.api_key }), 401, "invalid_token");
    expect(body.error_description).toBe("API key has been revoked");
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`, "json")).toMatchObject({ state: "revoked" });
  });

  it("repairs rotation cut-offs and corrects a wrong entry", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/rotate`, {
      token: await userToken({ tenants: [tenant] }),
      body: { grace_period_seconds: 0 },
    });
    const cutoff = (await env.DB.prepare("SELECT rotation_cutoff_at AS c FROM api_keys WHERE id = ?").bind(key.id).first<{ c: number }>())
      ?.c;
    await env.EDGE_RECORDS.put(`key-state:${key.id}`, JSON.stringify({ state: "rotated", at: 9_999_999_999 }), {
      metadata: { state: "rotated", at: 9_999_999_999 },
    });
    await runCron();
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`, "json")).toEqual({ state: "rotated", at: cutoff });
  });

  it("writes entries with the key's exp as their KV expiration, and skips keys already expired", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const live = await createKey(tenant, { expires_in_days: 3 });
    const dead = await createKey(tenant, { expires_in_days: 3 });
    for (const k of [live, dead]) await call("POST", `/api/v1/tenant/${tenant}/api-keys/${k.id}/revoke`, { token });
    await env.DB.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
      .bind(Math.floor(Date.now() / 1000) - 5, dead.id)
      .run();
    for (const k of [live, dead]) await env.EDGE_RECORDS.delete(`key-state:${k.id}`);
    await runCron();
    const listed = await env.EDGE_RECORDS.list({ prefix: "key-state:" });
    const byName = new Map(listed.keys.map((k) => [k.name, k]));
    expect(byName.get(`key-state:${live.id}`)?.expiration).toBe(live.expires_at);
    expect(byName.has(`key-state:${dead.id}`)).toBe(false);
  });

  it("leaves correct entries alone", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const { reconcileEdgeRecords } = await import("../../src/keys/reconcile");
    await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, Math.floor(Date.now() / 1000));
    const second = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, Math.floor(Date.now() / 1000));
    expect(second.repaired).toBe(0);
    expect(second.checked).toBeGreaterThan(0);
  });

  it("repairs lost rate-limit and allowlist records, and deletes records D1 no longer calls for", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const limited = await createKey(tenant, {
      rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }],
      allowed_ips: ["192.0.2.0/24"],
    });
    const cleared = await createKey(tenant, { allowed_ips: ["192.0.2.0/24"] });
    await env.EDGE_RECORDS.delete(`key-state:${limited.id}`);
    // The allowlist was removed in D1 but the KV delete was lost: the entry would keep refusing clients.
    await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${cleared.id}`, { token, body: { allowed_ips: null } });
    await env.EDGE_RECORDS.put(`key-state:${cleared.id}`, JSON.stringify({ allowed_ips: ["192.0.2.0/24"] }));
    await runCron();
    expect(await env.EDGE_RECORDS.get(`key-state:${limited.id}`, "json")).toEqual({
      rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }],
      allowed_ips: ["192.0.2.0/24"],
    });
    expect(await env.EDGE_RECORDS.get(`key-state:${cleared.id}`)).toBeNull();
    clearEdgeCache();
    const res = await call("GET", `/api/v1/resources`, { token: cleared.api_key, headers: { "cf-connecting-ip": "198.51.100.1" } });
    expect(res.status).toBe(200);
  });
});
