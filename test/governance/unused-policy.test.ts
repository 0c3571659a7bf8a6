/**
 * The unused-key policy under a controlled clock: the cron's run at chosen times notices a key at
 * N - notice days, revokes it at N (actor policy, webhook reason "unused"), never touches an exempt
 * key, and at 100,000 keys of one tenant stays within one invocation's limits, resuming from its cursor.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { enforceUnusedPolicy, MAX_REVOCATIONS_PER_RUN, UNUSED_POLICY_CURSOR } from "../../src/governance/unused-policy";
import { D1_MAX_QUERIES_PER_INVOCATION } from "../../src/lib/platform-limits";
import worker from "../helpers/limited-entry";
import { currentInvocation, runAsInvocation } from "../helpers/platform-limits";
import { auditRows, call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const DAY = 86_400;

/** The policy as the cron runs it, at `now` (unix seconds). */
function runPolicy(now: number) {
  return runAsInvocation("cron", async () => {
    const run = await enforceUnusedPolicy(database(env.DB), env.EDGE_RECORDS, now);
    return { ...run, invocation: { ...currentInvocation() } };
  });
}

async function keyRow(id: string) {
  return env.DB.prepare("SELECT revoked, revoked_at, revoked_by, revoke_reason FROM api_keys WHERE id = ?").bind(id).first();
}

async function policyAlerts(keyId: string) {
  const { results } = await env.DB.prepare("SELECT type, details FROM alerts WHERE key_id = ? AND dedupe_key LIKE 'key_unused_policy:%'")
    .bind(keyId)
    .all<{ type: string; details: string }>();
  return results.map((r) => ({ type: r.type, details: JSON.parse(r.details) as Record<string, unknown> }));
}

async function setPolicy(tenant: string, settings: Record<string, unknown>): Promise<Response> {
  return call("PUT", `/api/v1/tenant/${tenant}/alert-settings`, { token: await userToken({ tenants: [tenant] }), body: settings });
}

describe("the unused-key policy", () => {
  it("notices at N - notice days, revokes at N days, never an exempt key, under a controlled clock", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    expect((await setPolicy(tenant, { revoke_unused_after_days: 30, unused_notice_days: 7 })).status).toBe(200);
    const hook = await call("POST", `/api/v1/tenant/${tenant}/webhooks`, {
      token,
      body: { url: `${env.ORIGIN_URL}/hooks/unused-${tenant}`, events: ["key_unused", "key.revoked"] },
    });
    const webhookId = ((await hook.json()) as { id: string }).id;
    const idle = await createKey(tenant, { name: "idle", expires_in_days: 0 });
    const breakGlass = await createKey(tenant, { name: "break-glass", expires_in_days: 0, exempt_from_unused_policy: true });
    const used = await createKey(tenant, { name: "used", expires_in_days: 0 });
    const t0 = (await env.DB.prepare("SELECT created_at AS t FROM api_keys WHERE id = ?").bind(idle.id).first<{ t: number }>())?.t ?? 0;
    // `used` was last used 10 days after creation.
    await env.DB.prepare("UPDATE api_keys SET last_used = ? WHERE id = ?")
      .bind(t0 + 10 * DAY, used.id)
      .run();

    // Day 22: nothing yet.
    await runPolicy(t0 + 22 * DAY);
    expect(await policyAlerts(idle.id)).toEqual([]);

    // Day 23 (30 - 7): the notice, once, with when the key will be revoked.
    const noticed = await runPolicy(t0 + 23 * DAY);
    expect(noticed.noticed).toBe(1);
    await runPolicy(t0 + 23 * DAY + 3600);
    expect(await policyAlerts(idle.id)).toEqual([
      {
        type: "key_unused",
        details: expect.objectContaining({ revoke_unused_after_days: 30, revokes_at: t0 + 30 * DAY, last_used: null }),
      },
    ]);
    expect(await policyAlerts(breakGlass.id)).toEqual([]);
    expect(await policyAlerts(used.id)).toEqual([]);

    // A second before day 30: not revoked. Day 30: revoked by the policy.
    await runPolicy(t0 + 30 * DAY - 1);
    expect(await keyRow(idle.id)).toMatchObject({ revoked: 0 });
    const revokedRun = await runPolicy(t0 + 30 * DAY);
    expect(revokedRun.revoked).toBe(1);
    expect(await keyRow(idle.id)).toEqual({ revoked: 1, revoked_at: t0 + 30 * DAY, revoked_by: "policy", revoke_reason: "unused" });
    expect((await auditRows(tenant)).filter((r) => r.actor_kind === "policy")).toMatchObject([
      { action: "revoke", actor_id: "unused", target_key_id: idle.id, outcome: "success" },
    ]);
    const { results: deliveries } = await env.DB.prepare(
      "SELECT event_type, payload FROM webhook_deliveries WHERE webhook_id = ? AND event_type = 'key.revoked'",
    )
      .bind(webhookId)
      .all<{ event_type: string; payload: string }>();
    expect(deliveries.map((d) => JSON.parse(d.payload).data)).toEqual([
      { key_id: idle.id, revoked_at: t0 + 30 * DAY, revoked_by: "policy", reason: "unused" },
    ]);
    // The edge refuses the key from the revocation time on (the controlled clock's day 30).
    expect(await env.EDGE_RECORDS.get(`key-state:${idle.id}`, "json")).toEqual({ state: "revoked", at: t0 + 30 * DAY });

    // `used`: noticed at day 33, revoked at day 40. The exempt key: never, however long.
    await runPolicy(t0 + 33 * DAY);
    expect(await policyAlerts(used.id)).toHaveLength(1);
    await runPolicy(t0 + 40 * DAY);
    expect(await keyRow(used.id)).toMatchObject({ revoked: 1, revoked_by: "policy" });
    await runPolicy(t0 + 1000 * DAY);
    expect(await keyRow(breakGlass.id)).toMatchObject({ revoked: 0 });
    expect(await policyAlerts(breakGlass.id)).toEqual([]);
  });

  it("a use resets the clock, and an exemption set later (audited) protects the key", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    await setPolicy(tenant, { revoke_unused_after_days: 10, unused_notice_days: 3 });
    const key = await createKey(tenant, { expires_in_days: 0 });
    const t0 = (await env.DB.prepare("SELECT created_at AS t FROM api_keys WHERE id = ?").bind(key.id).first<{ t: number }>())?.t ?? 0;
    await env.DB.prepare("UPDATE api_keys SET last_used = ? WHERE id = ?")
      .bind(t0 + 5 * DAY, key.id)
      .run();
    await runPolicy(t0 + 10 * DAY);
    expect(await keyRow(key.id)).toMatchObject({ revoked: 0 });

    const res = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { exempt_from_unused_policy: true } });
    expect(await res.json()).toMatchObject({ exempt_from_unused_policy: true });
    expect((await auditRows(tenant)).at(-1)).toMatchObject({ action: "set_unused_exemption", target_key_id: key.id, outcome: "success" });
    await runPolicy(t0 + 100 * DAY);
    expect(await keyRow(key.id)).toMatchObject({ revoked: 0 });

    // Cleared again: revoked on the next run.
    await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { exempt_from_unused_policy: false } });
    await runPolicy(t0 + 100 * DAY);
    expect(await keyRow(key.id)).toMatchObject({ revoked: 1, revoked_by: "policy" });
  });

  it("is off by default, and refuses a notice not before the revocation", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant, { expires_in_days: 0 });
    await runPolicy(Math.floor(Date.now() / 1000) + 5000 * DAY);
    expect(await keyRow(key.id)).toMatchObject({ revoked: 0 });
    const settings = (await (
      await call("GET", `/api/v1/tenant/${tenant}/alert-settings`, { token: await userToken({ tenants: [tenant] }) })
    ).json()) as Record<string, unknown>;
    expect(settings).toMatchObject({ revoke_unused_after_days: 0, unused_notice_days: 7 });
    const body = await expectError(await setPolicy(tenant, { revoke_unused_after_days: 5 }), 400, "invalid_request");
    expect(body.error_description).toBe("unused_notice_days (7) must be less than revoke_unused_after_days (5)");
  });

  it("the cron runs it: scheduledTime is the clock", async () => {
    const tenant = freshTenant();
    await setPolicy(tenant, { revoke_unused_after_days: 2, unused_notice_days: 1 });
    const key = await createKey(tenant, { expires_in_days: 0 });
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now() + 3 * DAY * 1000, cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await keyRow(key.id)).toMatchObject({ revoked: 1, revoked_by: "policy", revoke_reason: "unused" });
  });

  it("at 100,000 keys of one tenant, each run stays within one invocation's limits and the next resumes from the cursor", async () => {
    const tenant = freshTenant();
    await setPolicy(tenant, { revoke_unused_after_days: 30, unused_notice_days: 7 });
    const created = Math.floor(Date.now() / 1000) - 400 * DAY;
    // 100,000 never-used keys, as D1 holds them (no signing needed: the policy reads rows only).
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
       INSERT INTO api_keys (id, tenant_id, name, scopes, created_at, expires_at, expires_in_days, created_by, subject, jti, kid, updated_at)
       SELECT 'key-' || ?1 || '-' || i, ?1, 'bulk', '["api:read"]', ?2, NULL, 0, 'user:bulk', 'bulk', 'jti-' || i, 'kid', ?2 FROM n`,
    )
      .bind(tenant, created)
      .run();
    const now = Math.floor(Date.now() / 1000);
    const first = await runPolicy(now);
    expect(first.revoked).toBe(MAX_REVOCATIONS_PER_RUN);
    expect(first.passCompleted).toBe(false);
    expect(first.invocation.d1Queries).toBeLessThanOrEqual(D1_MAX_QUERIES_PER_INVOCATION);
    expect(first.invocation.kvOperations).toBeLessThanOrEqual(MAX_REVOCATIONS_PER_RUN);
    const cursor = await env.DB.prepare("SELECT cursor FROM cron_cursors WHERE name = ?")
      .bind(UNUSED_POLICY_CURSOR)
      .first<{ cursor: string }>();
    expect(JSON.parse(cursor?.cursor ?? "{}").after).toBe(first.examinedUpTo);

    const second = await runPolicy(now);
    expect(second.revoked).toBe(MAX_REVOCATIONS_PER_RUN);
    expect(second.examinedUpTo).toBeGreaterThan(first.examinedUpTo);
    const revoked = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ? AND revoked_by = 'policy'")
      .bind(tenant)
      .first<{ n: number }>();
    expect(revoked?.n).toBe(2 * MAX_REVOCATIONS_PER_RUN);
  }, 120_000);
});
