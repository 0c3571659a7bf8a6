/**
 * Each detector fires once per condition and cooldown. Usage-driven ones run in the queue consumer
 * (fed crafted batches with controlled timestamps); time-driven ones in the cron (controlled clock).
 */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { UsageEvent } from "../../src/usage/events";
import type { UsageOutcome } from "../../src/vocab/usage.mjs";
import worker from "../helpers/limited-entry";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

afterEach(() => {
  vi.useRealTimers();
});

const HOUR_MS = 3_600_000;
/** The start of an hour well in the past, so buckets never collide with other tests' traffic. */
const T0 = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 48 * HOUR_MS;

function events(
  n: number,
  tenant: string | null,
  keyId: string | null,
  at: number,
  outcome: UsageOutcome = "accepted",
  ip = "192.0.2.1",
): UsageEvent[] {
  return Array.from({ length: n }, (_, i) => [
    at + i,
    tenant,
    keyId,
    "GET",
    "GET /x",
    outcome === "accepted" ? 200 : 403,
    outcome,
    ip,
    "FR",
    1,
  ]);
}

async function feed(list: UsageEvent[]): Promise<void> {
  const batch = createMessageBatch("keygate-usage", [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: { v: 1, id: crypto.randomUUID(), events: list } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(1);
}

async function alerts(
  tenant: string,
  query = "",
): Promise<{ id: string; type: string; key_id: string | null; details: Record<string, unknown> }[]> {
  const res = await call("GET", `/api/v1/tenant/${tenant}/alerts${query}`, { token: await userToken({ tenants: [tenant] }) });
  expect(res.status).toBe(200);
  return res.json();
}

async function settings(tenant: string, body: Record<string, unknown>): Promise<void> {
  const res = await call("PUT", `/api/v1/tenant/${tenant}/alert-settings`, { token: await userToken({ tenants: [tenant] }), body });
  expect(res.status).toBe(200);
}

describe("usage-driven detectors", () => {
  it("volume: once per key and hour past volume_per_hour", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    await settings(tenant, { volume_per_hour: 5 });
    await feed(events(5, tenant, keyId, T0));
    expect(await alerts(tenant)).toEqual([]);
    await feed(events(1, tenant, keyId, T0 + 1000));
    await feed(events(10, tenant, keyId, T0 + 2000));
    const first = await alerts(tenant);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ type: "volume", key_id: keyId, details: { requests: 6, threshold: 5, hour: T0 / 1000 } });
    // The next hour is a new condition.
    await feed(events(6, tenant, keyId, T0 + HOUR_MS));
    expect((await alerts(tenant)).map((a) => a.type)).toEqual(["volume", "volume"]);
  });

  it("new_ip: a key's first IP is its baseline; each later new IP raises once; the setting turns it off", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    await feed(events(3, tenant, keyId, T0, "accepted", "192.0.2.1"));
    expect(await alerts(tenant)).toEqual([]);
    await feed([
      ...events(2, tenant, keyId, T0 + 10, "accepted", "198.51.100.9"),
      ...events(1, tenant, keyId, T0 + 20, "accepted", "192.0.2.1"),
    ]);
    await feed(events(2, tenant, keyId, T0 + 30, "accepted", "198.51.100.9"));
    const raised = await alerts(tenant, "?type=new_ip");
    expect(raised).toHaveLength(1);
    expect(raised[0]?.details).toMatchObject({ ip: "198.51.100.9", country: "FR" });
    await settings(tenant, { new_ip: false });
    await feed(events(1, tenant, keyId, T0 + 40, "accepted", "203.0.113.5"));
    expect(await alerts(tenant, "?type=new_ip")).toHaveLength(1);
  });

  it("refusal_burst: against the tenant, and from one client, once per hour each", async () => {
    const tenant = freshTenant();
    const keyA = `key-${crypto.randomUUID()}`;
    const keyB = `key-${crypto.randomUUID()}`;
    await settings(tenant, { refusals_per_hour: 4 });
    // 3 + 2 refusals from different clients: the tenant's count passes 4, no single client's does.
    await feed([
      ...events(3, tenant, keyA, T0, "insufficient_scope", "192.0.2.1"),
      ...events(2, tenant, keyB, T0, "insufficient_scope", "192.0.2.2"),
    ]);
    let raised = await alerts(tenant, "?type=refusal_burst");
    expect(raised).toHaveLength(1);
    expect(raised[0]?.details).toMatchObject({ refusals: 5, threshold: 4 });
    await feed(events(3, tenant, keyA, T0 + 100, "insufficient_scope", "192.0.2.1"));
    raised = await alerts(tenant, "?type=refusal_burst");
    expect(raised).toHaveLength(2);
    expect(raised[0]?.details).toMatchObject({ client_ip: "192.0.2.1", refusals: 6 });
  });

  it("forged tokens set off nobody's alerts: unattributed refusals belong to no tenant", async () => {
    const tenant = freshTenant();
    await settings(tenant, { refusals_per_hour: 1 });
    await feed(events(50, null, null, T0, "invalid", "192.0.2.66"));
    expect(await alerts(tenant)).toEqual([]);
  });

  it("revoked_key_used and rate_limited: once per key and hour", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    await feed([...events(3, tenant, keyId, T0, "revoked"), ...events(2, tenant, keyId, T0, "rate_limited")]);
    await feed([...events(3, tenant, keyId, T0 + 60_000, "rotated"), ...events(2, tenant, keyId, T0 + 60_000, "rate_limited")]);
    const raised = await alerts(tenant);
    expect(raised.map((a) => a.type).sort()).toEqual(["rate_limited", "revoked_key_used"]);
    await feed(events(1, tenant, keyId, T0 + HOUR_MS, "rate_limited"));
    expect((await alerts(tenant, "?type=rate_limited")).length).toBe(2);
  });
});

async function cron(atMs: number): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: atMs, cron: "*/5 * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("time-driven detectors (cron)", () => {
  it("key_expiring: once per key, when it expires within expiring_within_days", async () => {
    const tenant = freshTenant();
    const soon = await createKey(tenant, { name: "soon", expires_in_days: 5 });
    await createKey(tenant, { name: "later", expires_in_days: 30 });
    await cron(Date.now());
    await cron(Date.now());
    const raised = await alerts(tenant, "?type=key_expiring");
    expect(raised).toHaveLength(1);
    // Whole days left when the cron ran (5, or 4 once a second has passed since the key was made).
    const daysLeft = Math.floor(((soon.expires_at as number) - (raised[0] as unknown as { created_at: number }).created_at) / 86_400);
    expect([4, 5]).toContain(daysLeft);
    expect(raised[0]).toMatchObject({
      key_id: soon.id,
      details: { name: "soon", days_left: daysLeft, threshold_days: 7, expires_at: soon.expires_at },
    });
  });

  it("key_unused: once per idle period, after unused_days without use", async () => {
    const tenant = freshTenant();
    await settings(tenant, { unused_days: 2 });
    const key = await createKey(tenant, { name: "idle", expires_in_days: 0 });
    await cron(Date.now());
    expect(await alerts(tenant, "?type=key_unused")).toEqual([]);
    const now = Math.floor(Date.now() / 1000);
    await env.DB.prepare("UPDATE api_keys SET created_at = ?, last_used = NULL WHERE id = ?")
      .bind(now - 3 * 86_400, key.id)
      .run();
    await cron(Date.now());
    await cron(Date.now());
    expect(await alerts(tenant, "?type=key_unused")).toHaveLength(1);
    // Used, then idle again: a new idle period.
    await env.DB.prepare("UPDATE api_keys SET last_used = ? WHERE id = ?")
      .bind(now - 2 * 86_400 - 60, key.id)
      .run();
    await cron(Date.now());
    expect(await alerts(tenant, "?type=key_unused")).toHaveLength(2);
  });
});

describe("alerts API", () => {
  it("acknowledges once (first time and actor kept), filters by type and since, and isolates tenants", async () => {
    const tenant = freshTenant();
    const other = freshTenant();
    await feed(events(2, tenant, `key-${crypto.randomUUID()}`, T0, "revoked"));
    const [alert] = await alerts(tenant);
    const token = await userToken({ tenants: [tenant], sub: "alice" });
    const ack = await call("POST", `/api/v1/tenant/${tenant}/alerts/${alert?.id}/ack`, { token });
    const acked = (await ack.json()) as { acknowledged_at: number; acknowledged_by: string };
    expect(acked.acknowledged_by).toBe("user:alice");
    const again = await call("POST", `/api/v1/tenant/${tenant}/alerts/${alert?.id}/ack`, {
      token: await userToken({ tenants: [tenant], sub: "bob" }),
    });
    expect(((await again.json()) as { acknowledged_by: string }).acknowledged_by).toBe("user:alice");
    await expectError(
      await call("POST", `/api/v1/tenant/${other}/alerts/${alert?.id}/ack`, { token: await userToken({ tenants: [other] }) }),
      404,
      "not_found",
    );
    expect(await alerts(other)).toEqual([]);
    expect(await alerts(tenant, `?since=${Math.floor(Date.now() / 1000) + 60}`)).toEqual([]);
    await expectError(await call("GET", `/api/v1/tenant/${tenant}/alerts?type=loud`, { token }), 400, "invalid_request");
  });

  it("alert settings: defaults are the seed's; PUT changes some, validates each, and changes nothing on a 400", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const get = async () => (await call("GET", `/api/v1/tenant/${tenant}/alert-settings`, { token })).json();
    expect(await get()).toEqual({
      volume_per_hour: 1000,
      new_ip: true,
      refusals_per_hour: 100,
      expiring_within_days: 7,
      unused_days: 90,
      leak_action: "revoke",
      quota_low_percent: 10,
      revoke_unused_after_days: 0,
      unused_notice_days: 7,
    });
    for (const [body, message] of [
      [{ volume_per_hour: 0 }, /^volume_per_hour must be an integer/],
      [{ new_ip: "yes" }, /^new_ip must be true or false/],
      [{ leak_action: "shrug" }, /^leak_action must be one of: revoke, notify/],
      [{ loud: true }, /^unknown field\(s\): loud/],
    ] as const) {
      const err = await expectError(await call("PUT", `/api/v1/tenant/${tenant}/alert-settings`, { token, body }), 400, "invalid_request");
      expect(err.error_description).toMatch(message);
    }
    await settings(tenant, { new_ip: false, leak_action: "notify" });
    expect(await get()).toMatchObject({ volume_per_hour: 1000, new_ip: false, leak_action: "notify" });
  });
});
