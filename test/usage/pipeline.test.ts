/**
 * The usage pipeline with the real local queue and D1: every gateway decision counted exactly once
 * by outcome, attributed only when the key's signature verified, idempotent redelivery, retention.
 */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { D1_MAX_QUERIES_PER_INVOCATION, QUEUE_MAX_BATCH_BYTES, QUEUE_MAX_MESSAGE_BYTES } from "../../src/lib/platform-limits";
import type { UsageEvent, UsageMessage } from "../../src/usage/events";
import { eventually } from "../helpers/eventually";
import worker from "../helpers/limited-entry";
import { queueMessageBytes } from "../helpers/platform-limits";
import { BASE, call, createKey, expectError, freshTenant, signApiKey, userToken } from "../helpers/worker";

/** The queue consumer runs about a second after the sends; a roll-up of thousands takes longer. */
const ROLLUP_TIMEOUT_MS = 45_000;

interface Usage {
  totals: { total: number; outcomes: Record<string, number> };
  buckets: { start: number; total: number; outcomes: Record<string, number> }[];
}

async function keyUsage(tenant: string, keyId: string, query = "granularity=minute"): Promise<Usage> {
  const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/${keyId}/usage?${query}`, {
    token: await userToken({ tenants: [tenant] }),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** Requests straight into the worker, many at once, as the runtime would dispatch them. */
async function burst(n: number, request: () => Request, concurrency = 20): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(concurrency, n - i) }, async () => {
        const res = await exports.default.fetch(request());
        await res.arrayBuffer();
        return res.status;
      }),
    );
    statuses.push(...chunk);
  }
  return statuses;
}

describe("usage events", () => {
  // The 1,000-request version runs end to end against `npm run dev` (test/e2e/usage.test.ts).
  it("every request is counted once, by outcome, per minute, hour and day", async () => {
    const tenant = freshTenant();
    const reader = await createKey(tenant, { scopes: ["api:read"] });
    const path = `/api/v1/usage-exact/${crypto.randomUUID()}`;
    const accepted = await burst(180, () => new Request(`${BASE}${path}`, { headers: { authorization: `Bearer ${reader.api_key}` } }));
    const refused = await burst(
      20,
      () => new Request(`${BASE}/api/v1/resources/x`, { method: "POST", headers: { authorization: `Bearer ${reader.api_key}` } }),
    );
    expect(accepted.filter((s) => s === 200)).toHaveLength(180);
    expect(refused.filter((s) => s === 403)).toHaveLength(20);
    const want = { total: 200, outcomes: { accepted: 180, insufficient_scope: 20 } };
    expect(
      (
        await eventually(
          () => keyUsage(tenant, reader.id),
          (u) => u.totals.total >= 200,
          ROLLUP_TIMEOUT_MS,
        )
      ).totals,
    ).toEqual(want);
    expect((await keyUsage(tenant, reader.id, "granularity=hour")).totals).toEqual(want);
    expect((await keyUsage(tenant, reader.id, "granularity=day")).totals).toEqual(want);
    const res = await call("GET", `/api/v1/tenant/${tenant}/usage`, { token: await userToken({ tenants: [tenant] }) });
    const usage = (await res.json()) as { totals: unknown; keys: { key_id: string; total: number }[] };
    expect(usage.totals).toEqual(want);
    expect(usage.keys).toEqual([expect.objectContaining({ key_id: reader.id, total: 200 })]);
  });

  it("attributes refusals to a key only when its signature verified; forged tokens naming it count for nobody", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const key = await createKey(tenant);
    const expired = await signApiKey({ tenant, key_id: key.id, exp: Math.floor(Date.now() / 1000) - 60 });
    // A forged token that names the victim's tenant and key, signed by someone else.
    const [h, p] = key.api_key.split(".");
    const forged = `${h}.${p}.${"A".repeat(342)}`;
    await call("GET", "/api/v1/attribution", { token: key.api_key });
    await call("GET", "/api/v1/attribution", { token: expired });
    for (let i = 0; i < 5; i++)
      await call("GET", "/api/v1/attribution", { token: forged, headers: { "cf-connecting-ip": "198.51.100.77" } });
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token });
    await call("GET", "/api/v1/attribution", { token: key.api_key });
    const usage = await eventually(
      () => keyUsage(tenant, key.id),
      (u) => u.totals.total >= 3,
      ROLLUP_TIMEOUT_MS,
    );
    expect(usage.totals).toEqual({ total: 3, outcomes: { accepted: 1, expired: 1, revoked: 1 } });
    const forgedRows = await env.DB.prepare(
      "SELECT SUM(count) AS n FROM client_refusals WHERE tenant_id = '' AND ip = '198.51.100.77'",
    ).first<{ n: number }>();
    expect(forgedRows?.n).toBe(5);
  });

  it("records each key's client IPs with first and last seen, count and country", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    for (const ip of ["192.0.2.10", "192.0.2.10", "2001:db8::7"]) {
      await call("GET", "/api/v1/ips-probe", { token: key.api_key, headers: { "cf-connecting-ip": ip } });
    }
    const token = await userToken({ tenants: [tenant] });
    const ips = await eventually(
      async () =>
        (await (await call("GET", `/api/v1/tenant/${tenant}/api-keys/${key.id}/ips`, { token })).json()) as { ip: string; count: number }[],
      (list) => list.length >= 2,
      ROLLUP_TIMEOUT_MS,
    );
    expect(ips.map((i) => [i.ip, i.count]).sort()).toEqual([
      ["192.0.2.10", 2],
      ["2001:db8::7", 1],
    ]);
    expect(ips[0]).toEqual({
      ip: expect.any(String),
      first_seen: expect.any(Number),
      last_seen: expect.any(Number),
      count: expect.any(Number),
      country: null,
    });
  });
});

function message(id: string, events: UsageEvent[]): UsageMessage {
  return { v: 1, id, events };
}

async function consume(messages: UsageMessage[]): Promise<void> {
  const batch = createMessageBatch(
    "keygate-usage",
    messages.map((body, i) => ({ id: `m-${crypto.randomUUID()}-${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  expect(result.explicitAcks.length + result.retryMessages.length).toBe(messages.length);
  expect(result.retryMessages).toEqual([]);
}

describe("the roll-up", () => {
  it("counts a redelivered batch once", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Date.now();
    const batch = message(`batch-${crypto.randomUUID()}`, [
      [now, tenant, keyId, "GET", "GET /x", 200, "accepted", "192.0.2.1", "DE", 3],
      [now, tenant, keyId, "GET", "GET /x", 429, "rate_limited", "192.0.2.1", "DE", -1],
    ]);
    await consume([batch]);
    await consume([batch, batch]);
    const { results } = await env.DB.prepare(
      "SELECT outcome, count FROM usage_counts WHERE granularity = 'minute' AND key_id = ? ORDER BY outcome",
    )
      .bind(keyId)
      .all();
    expect(results).toEqual([
      { outcome: "accepted", count: 1 },
      { outcome: "rate_limited", count: 1 },
    ]);
    const ip = await env.DB.prepare("SELECT count, country FROM key_ips WHERE key_id = ?").bind(keyId).first();
    expect(ip).toEqual({ count: 2, country: "DE" });
  });

  it("a batch of 3,000 distinct keys over 300 tenants is a few dozen D1 statements, every event counted", async () => {
    const { rollUp } = await import("../../src/usage/rollup");
    const run = crypto.randomUUID().slice(0, 8);
    const now = Date.now();
    const events: UsageEvent[] = Array.from({ length: 3_000 }, (_, i) => [
      now,
      `t-${run}-${i % 300}`,
      `key-${run}-${i}`,
      "GET",
      "GET /x",
      200,
      "accepted",
      `192.0.2.${i % 200}`,
      "DE",
      2,
    ]);
    const { binding: counted, statements } = countingPrepares(env.DB);
    const result = await rollUp(
      counted,
      [message(`batch-${run}-a`, events.slice(0, 1_500)), message(`batch-${run}-b`, events.slice(1_500))],
      Math.floor(now / 1000),
    );
    expect(result.applied).toBe(2);
    // It was about 2,000 (D1_MAX_BOUND_PARAMETERS per statement), over the 1,000 queries of one invocation.
    // (Alerts are two statements each: a batch in which many keys raise one is still that many more.)
    expect(statements()).toBeLessThan(40);
    const total = await env.DB.prepare("SELECT SUM(count) AS n FROM usage_counts WHERE granularity = 'minute' AND key_id LIKE ?")
      .bind(`key-${run}-%`)
      .first<{ n: number }>();
    expect(total?.n).toBe(3_000);
    const used = await env.DB.prepare("SELECT count(*) AS n FROM key_ips WHERE key_id LIKE ?").bind(`key-${run}-%`).first<{ n: number }>();
    expect(used?.n).toBe(3_000);
  });

  it("an alert storm (600 keys rate limited for the first time this hour) is a few statements, each alert and delivery once", async () => {
    const { rollUp } = await import("../../src/usage/rollup");
    const tenant = freshTenant();
    const run = crypto.randomUUID().slice(0, 8);
    const now = Date.now();
    const hook = `wh-${crypto.randomUUID()}`;
    await env.DB.prepare(
      "INSERT INTO webhooks (id, tenant_id, url, events, secret, created_at, created_by) VALUES (?, ?, 'https://hooks.example.com/x', '[\"rate_limited\"]', 'whsec_x', ?, 'user:test')",
    )
      .bind(hook, tenant, Math.floor(now / 1000))
      .run();
    const events: UsageEvent[] = Array.from({ length: 600 }, (_, i) => [
      now,
      tenant,
      `key-${run}-${i}`,
      "GET",
      "GET /x",
      429,
      "rate_limited",
      "192.0.2.1",
      "DE",
      -1,
    ]);
    const { binding: counted, statements } = countingPrepares(env.DB);
    const result = await rollUp(counted, [message(`batch-${run}`, events)], Math.floor(now / 1000));
    expect(statements()).toBeLessThan(30); // it was 1,200 for the alerts alone
    expect(result.deliveries).toHaveLength(600);
    // (and two refusal_burst alerts: 600 refusals from one client, which the webhook does not subscribe to)
    const alerts = await env.DB.prepare("SELECT id, key_id, type, details FROM alerts WHERE tenant_id = ? AND type = 'rate_limited'")
      .bind(tenant)
      .all<{
        id: string;
        key_id: string;
        type: string;
        details: string;
      }>();
    expect(alerts.results).toHaveLength(600);
    expect(new Set(alerts.results.map((a) => a.key_id)).size).toBe(600);
    const delivery = await env.DB.prepare("SELECT event_type, payload, status, webhook_id FROM webhook_deliveries WHERE id = ?")
      .bind(result.deliveries[0])
      .first<{ event_type: string; payload: string; status: string; webhook_id: string }>();
    expect(delivery).toMatchObject({ event_type: "rate_limited", status: "pending", webhook_id: hook });
    const payload = JSON.parse(delivery?.payload ?? "{}");
    expect(payload).toMatchObject({ type: "rate_limited", tenant, data: { type: "rate_limited", acknowledged_at: null } });
    expect(alerts.results.map((a) => a.id)).toContain(payload.data.id);
    // The same hour again: deduplicated, no new alert and no delivery.
    const again = await rollUp(env.DB, [message(`batch-${run}-2`, events)], Math.floor(now / 1000));
    expect(again.deliveries).toHaveLength(0);
    const total = await env.DB.prepare("SELECT count(*) AS n FROM alerts WHERE tenant_id = ?").bind(tenant).first<{ n: number }>();
    expect(total?.n).toBe(602);
  });

  it("prunes each granularity after its retention, and old batch ids", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    const day = 86_400;
    const now = Math.floor(Date.now() / 1000);
    const rows: [string, number][] = [
      ["minute", now - 8 * day],
      ["minute", now - 6 * day],
      ["hour", now - 91 * day],
      ["hour", now - 89 * day],
      ["day", now - 731 * day],
      ["day", now - 729 * day],
    ];
    for (const [granularity, bucket] of rows) {
      await env.DB.prepare(
        "INSERT INTO usage_counts (granularity, tenant_id, key_id, bucket, outcome, count) VALUES (?, 't-retention', ?, ?, 'accepted', 1)",
      )
        .bind(granularity, keyId, bucket)
        .run();
    }
    await env.DB.prepare("INSERT INTO usage_batches (id, applied_at) VALUES (?, ?)")
      .bind(`old-${keyId}`, now - 8 * day)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const { results } = await env.DB.prepare("SELECT granularity, bucket FROM usage_counts WHERE key_id = ? ORDER BY bucket")
      .bind(keyId)
      .all();
    expect(results).toEqual([
      { granularity: "day", bucket: now - 729 * day },
      { granularity: "hour", bucket: now - 89 * day },
      { granularity: "minute", bucket: now - 6 * day },
    ]);
    expect(await env.DB.prepare("SELECT 1 FROM usage_batches WHERE id = ?").bind(`old-${keyId}`).first()).toBeNull();
  });
});

describe("the usage API", () => {
  it("refuses bad ranges, unknown keys and other tenants' keys with the usual bodies", async () => {
    const tenant = freshTenant();
    const other = await createKey(freshTenant());
    const key = await createKey(tenant);
    const token = await userToken({ tenants: [tenant] });
    const usage = (id: string, query: string) => call("GET", `/api/v1/tenant/${tenant}/api-keys/${id}/usage?${query}`, { token });
    const bad: [string, RegExp][] = [
      ["from=200&to=100", /^from must be before to/],
      ["from=100&to=100", /^from must be before to/],
      ["granularity=minute&from=0&to=200000", /at most 1 day/],
      ["granularity=week", /^granularity must be one of: minute, hour, day/],
      ["from=yesterday", /^from must be an integer/],
      ["to=-5", /^to must be an integer/],
    ];
    for (const [query, message] of bad) {
      const err = await expectError(await usage(key.id, query), 400, "invalid_request");
      expect(err.error_description, query).toMatch(message);
    }
    await expectError(await usage(other.id, ""), 404, "not_found");
    await expectError(await usage(`key-${crypto.randomUUID()}`, ""), 404, "not_found");
    await expectError(await call("GET", `/api/v1/tenant/${tenant}/api-keys/${other.id}/ips`, { token }), 404, "not_found");
    await expectError(await call("GET", `/api/v1/tenant/${tenant}/usage?from=5&to=4`, { token }), 400, "invalid_request");
    const empty = (await (await usage(key.id, "")).json()) as Usage;
    expect(empty.totals).toEqual({ total: 0, outcomes: {} });
  });

  it("a failed queue send is retried, then counted as lost and shown, and the request is unaffected", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const broken = {
      USAGE_QUEUE: {
        send: () => Promise.reject(new Error("queue unavailable")),
        sendBatch: () => Promise.reject(new Error("queue unavailable")),
      },
    };
    const before = await env.DB.prepare("SELECT COALESCE(SUM(events), 0) AS n FROM usage_losses").first<{ n: number }>();
    expect((await call("GET", "/api/v1/lossy", { token: key.api_key, env: broken })).status).toBe(200);
    const after = await env.DB.prepare("SELECT COALESCE(SUM(events), 0) AS n FROM usage_losses").first<{ n: number }>();
    expect((after?.n ?? 0) - (before?.n ?? 0)).toBe(1);
    const res = await call("GET", `/api/v1/tenant/${tenant}/usage`, { token: await userToken({ tenants: [tenant] }) });
    expect(((await res.json()) as { dropped_events: number }).dropped_events).toBeGreaterThanOrEqual(1);
    vi.restoreAllMocks();
  });
});

describe("queue limits", () => {
  it("splits a large flush into messages under 128 KB and batches under 256 KB, and the real queue takes them all", async () => {
    const { batchesOf, send } = await import("../../src/usage/events");
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const rule = `GET /api/v1/${"very-long-segment/".repeat(8)}**`;
    const events: UsageEvent[] = Array.from({ length: 5000 }, (_, i) => [
      Date.now() + i,
      tenant,
      keyId,
      "GET",
      rule,
      200,
      "accepted",
      "2001:db8::1234",
      "DE",
      3,
    ]);
    const batches = batchesOf(events);
    expect(batches.reduce((n, b) => n + b.events, 0)).toBe(5000);
    for (const batch of batches) {
      expect(batch.messages.length).toBeLessThanOrEqual(100);
      const sizes = batch.messages.map((m) => queueMessageBytes(m.body, m.contentType));
      for (const size of sizes) expect(size).toBeLessThanOrEqual(QUEUE_MAX_MESSAGE_BYTES);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(QUEUE_MAX_BATCH_BYTES);
    }
    const before = await env.DB.prepare("SELECT COALESCE(SUM(events), 0) AS n FROM usage_losses").first<{ n: number }>();
    await send({ queue: env.USAGE_QUEUE, db: env.DB, flushMs: 0 }, events);
    const after = await env.DB.prepare("SELECT COALESCE(SUM(events), 0) AS n FROM usage_losses").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
    const counted = await eventually(
      async () =>
        (
          await env.DB.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM usage_counts WHERE granularity = 'day' AND key_id = ?")
            .bind(keyId)
            .first<{ n: number }>()
        )?.n ?? 0,
      (n) => n >= 5000,
      ROLLUP_TIMEOUT_MS,
    );
    expect(counted).toBe(5000);
  });

  it("rolls up a consumer batch too big for one invocation's D1 queries: a part now, the rest re-sent (a message split), each event counted once", async () => {
    const { rollupQueries } = await import("../../src/usage/rollup");
    const { ROLLUP_MAX_QUERIES } = await import("../../src/usage/rollup");
    const prefix = freshTenant();
    const now = Date.now();
    // Events of distinct keys and clients of a used revoked key each (an alert per key): the worst case.
    const events = (m: number, n: number): UsageEvent[] =>
      Array.from({ length: n }, (_, i) => [
        now,
        `${prefix}-${i % 20}`,
        `key-${m}-${i}-${crypto.randomUUID()}`,
        "GET",
        "GET /x",
        401,
        "revoked",
        `198.51.${m}.${i}`,
        null,
        -1,
      ]);
    // The first message alone is over the roll-up's share; the batch over D1's 1,000 queries by far.
    const messages = [
      message(`big-${prefix}`, events(0, 150)),
      ...Array.from({ length: 9 }, (_, m) => message(`m${m}-${prefix}`, events(m + 1, 20))),
    ];
    expect(rollupQueries(messages.slice(0, 1))).toBeGreaterThan(ROLLUP_MAX_QUERIES);
    expect(rollupQueries(messages)).toBeGreaterThan(D1_MAX_QUERIES_PER_INVOCATION);
    await consume(messages);
    const total = 150 + 9 * 20;
    const counted = await eventually(
      async () =>
        (
          await env.DB.prepare(
            "SELECT COALESCE(SUM(count), 0) AS n FROM usage_counts WHERE granularity = 'day' AND tenant_id LIKE ? || '-%'",
          )
            .bind(prefix)
            .first<{ n: number }>()
        )?.n ?? 0,
      (n) => n >= total,
      ROLLUP_TIMEOUT_MS,
    );
    expect(counted).toBe(total);
    const alerts = await env.DB.prepare("SELECT COUNT(*) AS n FROM alerts WHERE tenant_id LIKE ? || '-%' AND type = 'revoked_key_used'")
      .bind(prefix)
      .first<{ n: number }>();
    expect(alerts?.n).toBe(total);
  });
});

/** D1 with every prepared statement counted (a statement of a batch included). */
function countingPrepares(d1: D1Database): { binding: D1Database; statements(): number } {
  let count = 0;
  const binding = new Proxy(d1, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => {
          count++;
          return target.prepare(query);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { binding, statements: () => count };
}
