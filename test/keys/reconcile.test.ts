import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { clearEdgeStateCache } from "../../src/keys/edge-state";
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
    await env.REVOCATIONS.delete(`key-state:${key.id}`);
    clearEdgeStateCache();
    expect((await call("GET", "/api/v1/resources", { token: key.api_key })).status).toBe(200);

    await runCron();
    clearEdgeStateCache();
    const body = await expectError(await call("GET", "/api/v1/resources", { token: key.api_key }), 401, "invalid_token");
    expect(body.error_description).toBe("API key has been revoked");
    expect(await env.REVOCATIONS.get(`key-state:${key.id}`, "json")).toMatchObject({ state: "revoked" });
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
    await env.REVOCATIONS.put(`key-state:${key.id}`, JSON.stringify({ state: "rotated", at: 9_999_999_999 }), {
      metadata: { state: "rotated", at: 9_999_999_999 },
    });
    await runCron();
    expect(await env.REVOCATIONS.get(`key-state:${key.id}`, "json")).toEqual({ state: "rotated", at: cutoff });
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
    for (const k of [live, dead]) await env.REVOCATIONS.delete(`key-state:${k.id}`);
    await runCron();
    const listed = await env.REVOCATIONS.list({ prefix: "key-state:" });
    const byName = new Map(listed.keys.map((k) => [k.name, k]));
    expect(byName.get(`key-state:${live.id}`)?.expiration).toBe(live.expires_at);
    expect(byName.has(`key-state:${dead.id}`)).toBe(false);
  });

  it("leaves correct entries alone", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    const { reconcileEdgeState } = await import("../../src/keys/reconcile");
    await reconcileEdgeState(env.DB, env.REVOCATIONS, Math.floor(Date.now() / 1000));
    const second = await reconcileEdgeState(env.DB, env.REVOCATIONS, Math.floor(Date.now() / 1000));
    expect(second.repaired).toBe(0);
    expect(second.checked).toBeGreaterThan(0);
  });
});
