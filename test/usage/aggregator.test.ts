/**
 * The usage aggregator (src/usage/aggregator.ts) with the real local queue consumer, Durable Objects
 * and D1: usage is held per shard and rolled up once per flush, every event counted exactly once
 * (redeliveries before and after a flush, a flush that committed before its object forgot what it
 * held), and the faults: a shard that cannot be reached, D1 down during a flush.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { aggregatorShard, aggregatorStub, slicesByShard } from "../../src/usage/aggregator";
import type { UsageEvent, UsageMessage } from "../../src/usage/events";
import { rollUp } from "../../src/usage/rollup";
import { eventually } from "../helpers/eventually";
import { unavailableD1, unreachableDurableObjects } from "../helpers/faults";
import worker, { aggregatorFaults } from "../helpers/limited-entry";
import { freshTenant } from "../helpers/worker";

const SHARDS = 4;

/** The test env with aggregation on: a new object, so the per-env config is parsed afresh. */
function aggregating(seconds: number, overrides: Partial<Env> = {}): Env {
  return { ...env, USAGE_AGGREGATE_SECONDS: String(seconds), USAGE_AGGREGATOR_SHARDS: String(SHARDS), ...overrides } as Env;
}

function shardOf(tenant: string) {
  return aggregatorStub(env.USAGE_AGGREGATOR, aggregatorShard(tenant, SHARDS));
}

async function consume(messages: UsageMessage[], withEnv: Env): Promise<{ acked: number; retried: number }> {
  const batch = createMessageBatch(
    "keygate-usage",
    messages.map((body, i) => ({ id: `m-${crypto.randomUUID()}-${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, withEnv, ctx);
  const result = await getQueueResult(batch, ctx);
  return { acked: result.explicitAcks.length, retried: result.retryMessages.length };
}

function event(tenant: string | null, keyId: string | null, outcome = "accepted", at = Date.now()): UsageEvent {
  return [at, tenant, keyId, "GET", "GET /x", outcome === "accepted" ? 200 : 403, outcome as UsageEvent[6], "192.0.2.7", null, 2];
}

async function minuteCounts(keyId: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    "SELECT outcome, SUM(count) AS n FROM usage_counts WHERE granularity = 'minute' AND key_id = ? GROUP BY outcome",
  )
    .bind(keyId)
    .all<{ outcome: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.outcome, r.n]));
}

async function flushAll(): Promise<void> {
  for (let shard = 0; shard < SHARDS; shard++) {
    const stub = aggregatorStub(env.USAGE_AGGREGATOR, shard);
    for (let i = 0; i < 10 && (await stub.flush()).left > 0; i++);
  }
}

describe("slices", () => {
  it("every event lands in exactly one slice, a tenant always in the same shard, ids derived from the batch id", () => {
    const events = Array.from({ length: 500 }, (_, i) => event(i % 7 === 0 ? null : `t-${i % 37}`, `key-${i}`));
    const slices = slicesByShard({ v: 1, id: "batch-1", events }, SHARDS);
    expect([...slices.values()].flatMap((s) => s.events).sort()).toEqual([...events].sort());
    for (const [shard, slice] of slices) {
      expect(slice.id).toBe(`batch-1@${shard}`);
      for (const e of slice.events) expect(aggregatorShard(e[1] ?? "", SHARDS)).toBe(shard);
    }
  });
});

describe("the usage aggregator", () => {
  it("holds usage until the flush, then writes each key's rows once, however many batches carried it", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const batches = Array.from({ length: 20 }, (_, i) => ({
      v: 1 as const,
      id: `batch-${crypto.randomUUID()}`,
      events: [event(tenant, keyId), event(tenant, keyId, i % 4 === 0 ? "insufficient_scope" : "accepted")],
    }));
    const on = aggregating(3600);
    expect(await consume(batches.slice(0, 10), on)).toEqual({ acked: 10, retried: 0 });
    expect(await consume(batches.slice(10), on)).toEqual({ acked: 10, retried: 0 });
    expect(await minuteCounts(keyId)).toEqual({});
    expect(await shardOf(tenant).held()).toMatchObject({ messages: expect.any(Number) });

    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM usage_counts WHERE key_id = ?").bind(keyId).first<{ n: number }>();
    expect(before?.n).toBe(0);
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 35, insufficient_scope: 5 });
    // One row per granularity and outcome: the twenty batches became one write each.
    const rows = await env.DB.prepare("SELECT granularity, outcome, count FROM usage_counts WHERE key_id = ? ORDER BY granularity, outcome")
      .bind(keyId)
      .all<{ granularity: string; outcome: string; count: number }>();
    expect(rows.results.length).toBeLessThanOrEqual(6 + 3); // a minute or hour boundary inside the test adds rows
  });

  it("counts a redelivery once: while it is held, and after the flush", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const batch: UsageMessage = { v: 1, id: `batch-${crypto.randomUUID()}`, events: [event(tenant, keyId), event(tenant, keyId)] };
    const on = aggregating(3600);
    await consume([batch], on);
    await consume([batch, batch], on);
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 2 });
    await consume([batch], on);
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 2 });
  });

  it("a flush that committed before its object deleted what it held changes nothing the second time", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const batch: UsageMessage = { v: 1, id: `batch-${crypto.randomUUID()}`, events: [event(tenant, keyId)] };
    await consume([batch], aggregating(3600));
    // The same roll-up the flush makes, committed "just before the crash".
    const [slice] = [...slicesByShard(batch, SHARDS).values()];
    await rollUp(env.DB, [slice as UsageMessage], Math.floor(Date.now() / 1000));
    expect(await minuteCounts(keyId)).toEqual({ accepted: 1 });
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 1 });
    expect(await shardOf(tenant).held()).toEqual({ messages: 0, events: 0 });
  });

  it("flushes on its own when the alarm is due, bringing forward an alarm set under a longer interval", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    // The shard's alarm is an hour out (USAGE_AGGREGATE_SECONDS was 3600); then it becomes 1.
    await consume([{ v: 1, id: `batch-${crypto.randomUUID()}`, events: [event(tenant, null, "invalid_token")] }], aggregating(3600));
    await consume(
      [{ v: 1, id: `batch-${crypto.randomUUID()}`, events: [event(tenant, keyId), event(null, null, "invalid_token")] }],
      aggregating(1),
    );
    const counts = await eventually(
      () => minuteCounts(keyId),
      (c) => c.accepted === 1,
    );
    expect(counts).toEqual({ accepted: 1 });
  });

  it("a shard that cannot be reached: its slices are rolled up directly, each event once, every message acked", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const batch: UsageMessage = {
      v: 1,
      id: `batch-${crypto.randomUUID()}`,
      events: [event(tenant, keyId), event(tenant, keyId, "rate_limited")],
    };
    const down = aggregating(3600, { USAGE_AGGREGATOR: unreachableDurableObjects(env.USAGE_AGGREGATOR) });
    expect(await consume([batch], down)).toEqual({ acked: 1, retried: 0 });
    expect(await minuteCounts(keyId)).toEqual({ accepted: 1, rate_limited: 1 });
    // The shard comes back and the same message is redelivered: still once.
    await consume([batch], aggregating(3600));
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 1, rate_limited: 1 });
  });

  it("a shard that cannot be reached and D1 down: the message is retried, nothing counted twice later", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    const batch: UsageMessage = { v: 1, id: `batch-${crypto.randomUUID()}`, events: [event(tenant, keyId)] };
    const broken = aggregating(3600, { USAGE_AGGREGATOR: unreachableDurableObjects(env.USAGE_AGGREGATOR), DB: unavailableD1(env.DB) });
    expect(await consume([batch], broken)).toEqual({ acked: 0, retried: 1 });
    expect(await consume([batch], aggregating(3600))).toEqual({ acked: 1, retried: 0 });
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 1 });
  });

  it("D1 down during a flush: everything stays held and the alarm tries again; then each event counts once", async () => {
    const tenant = freshTenant();
    const keyId = `key-${crypto.randomUUID()}`;
    await consume([{ v: 1, id: `batch-${crypto.randomUUID()}`, events: [event(tenant, keyId), event(tenant, keyId)] }], aggregating(3600));
    const stub = shardOf(tenant);
    aggregatorFaults.d1Down = true;
    let retryAt: number | null;
    try {
      retryAt = await (stub as unknown as { alarmNow(): Promise<number | null> }).alarmNow();
    } finally {
      aggregatorFaults.d1Down = false;
    }
    expect(retryAt).toBeGreaterThan(Date.now());
    expect((await stub.held()).events).toBeGreaterThanOrEqual(2);
    expect(await minuteCounts(keyId)).toEqual({});
    await flushAll();
    expect(await minuteCounts(keyId)).toEqual({ accepted: 2 });
  });
});
