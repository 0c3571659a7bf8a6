/**
 * Quota credits, the key view's quota state, and the quota alerts (issue 19): a credit adds calls to
 * the current period at the key's counter, is audited and sent to key.quota_credited webhooks;
 * quota_low (the tenant's quota_low_percent) and quota_exhausted are raised once per period.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { eventually } from "../helpers/eventually";
import { unreachableDurableObjects } from "../helpers/faults";
import { auditRows, call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

function uniquePath(): string {
  return `/api/v1/credited/${crypto.randomUUID()}`;
}

async function alertsOf(tenant: string, type: string) {
  const { results } = await env.DB.prepare("SELECT type, key_id, details FROM alerts WHERE tenant_id = ? AND type = ?")
    .bind(tenant, type)
    .all();
  return results;
}

describe("quota credits", () => {
  it("add calls to the current period: the key view shows remaining and resets_at; audited; webhook key.quota_credited", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const name = `${tenant}-credit`;
    await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token,
      body: { url: `${env.ORIGIN_URL}/hooks/${name}`, events: ["key.quota_credited"] },
    });
    const key = await createKey(tenant, { quota: { limit: 2, period: "day" } });
    const base = `/api/v1/tenant/${tenant}/api-keys/${key.id}`;
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    await expectError(await call("GET", path, { token: key.api_key }), 429, "quota_exceeded");

    const midnight = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400;
    const before = (await (await call("GET", base, { token })).json()) as Record<string, unknown>;
    expect(before.quota).toEqual({ limit: 2, period: "day", remaining: 0, credited: 0, resets_at: midnight });

    for (const [body, message] of [
      [{ amount: 0 }, /^amount must be an integer from 1/],
      [{ amount: 1.5 }, /^amount must be an integer/],
      [{ amount: -3 }, /^amount must be an integer/],
      [{}, /^amount is required/],
    ] as const) {
      const err = await expectError(await call("POST", `${base}/quota/credit`, { token, body }), 400, "invalid_request");
      expect(err.error_description).toMatch(message);
    }
    const credited = await call("POST", `${base}/quota/credit`, { token, body: { amount: 3 } });
    expect(await credited.json()).toEqual({
      key_id: key.id,
      amount: 3,
      quota: { limit: 2, period: "day", remaining: 3, credited: 3, resets_at: midnight },
    });
    // Every isolate asks an exhausted quota again within QUOTA_RECHECK_MS (1 s).
    await new Promise((r) => setTimeout(r, 1_100));
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call("GET", path, { token: key.api_key })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);

    expect((await auditRows(tenant)).some((r) => r.action === "credit_quota" && r.target_key_id === key.id)).toBe(true);
    const hooks = await eventually(
      async () => (await fetch(`${env.ORIGIN_URL}/__hooks/${name}`)).json() as Promise<{ body: string }[]>,
      (list) => list.length > 0,
    );
    expect(JSON.parse(hooks[0]?.body ?? "{}")).toMatchObject({ type: "key.quota_credited", data: { key_id: key.id, amount: 3 } });
  });

  it("a key without a quota is 409; an unreachable counter is 503 and credits nothing", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const plain = await createKey(tenant);
    await expectError(
      await call("POST", `/api/v1/tenant/${tenant}/api-keys/${plain.id}/quota/credit`, { token, body: { amount: 1 } }),
      409,
      "conflict",
    );
    const key = await createKey(tenant, { quota: { limit: 1, period: "none" } });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const down = { RATE_LIMITER: unreachableDurableObjects(env.RATE_LIMITER) };
    await expectError(
      await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/quota/credit`, { token, body: { amount: 5 }, env: down }),
      503,
      "temporarily_unavailable",
    );
    // The key view is served without the counter's numbers.
    const view = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, env: down })).json()) as Record<
      string,
      unknown
    >;
    expect(view.quota).toEqual({ limit: 1, period: "none" });
    errors.mockRestore();
    const after = (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token })).json()) as Record<string, unknown>;
    expect(after.quota).toEqual({ limit: 1, period: "none", remaining: 1, credited: 0, resets_at: null });
  });
});

describe("quota alerts", () => {
  it("quota_low once the tenant's percent is reached, quota_exhausted once when it runs out, once per period", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const settings = await call("PUT", `/api/v1/tenant/${tenant}/alert-settings`, { token, body: { quota_low_percent: 50 } });
    expect(settings.status).toBe(200);
    const key = await createKey(tenant, { quota: { limit: 4, period: "month" } });
    const path = uniquePath();
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    expect(await alertsOf(tenant, "quota_low")).toEqual([]);
    expect((await call("GET", path, { token: key.api_key })).status).toBe(200);
    const low = await eventually(
      () => alertsOf(tenant, "quota_low"),
      (rows) => rows.length > 0,
    );
    expect(low[0]).toMatchObject({ key_id: key.id });
    expect(JSON.parse(String(low[0]?.details))).toMatchObject({ quota: "key.quota", limit: 4, remaining: 2 });
    for (let i = 0; i < 5; i++) await call("GET", path, { token: key.api_key });
    await new Promise((r) => setTimeout(r, 1_100));
    await call("GET", path, { token: key.api_key });
    const exhausted = await eventually(
      () => alertsOf(tenant, "quota_exhausted"),
      (rows) => rows.length > 0,
    );
    expect(exhausted).toHaveLength(1);
    expect(await alertsOf(tenant, "quota_low")).toHaveLength(1);
  });
});
