/**
 * The capacity harness's worker (bundled by bench/lib/capacity.mjs, run in workerd by
 * scripts/seed-capacity.mjs and bench/capacity.mjs): keygate's own cron tasks and queries, each
 * request one invocation, over D1 and KV bindings that count what the invocation spends (queries,
 * statements, rows returned and written, bound parameters, KV operations). Also the seed's KV step:
 * the edge records of seeded keys, written through keygate's own write path (writeEdgeRecord).
 */
import { detectScheduled } from "../../src/alerts/scheduled";
import { database } from "../../src/db/client";
import { listKeys } from "../../src/db/keys-repo";
import type { Env } from "../../src/env";
import { edgeFeedPollIfDue, edgeFeedStats } from "../../src/keys/edge-feed";
import { edgeRecordOf, writeEdgeRecord } from "../../src/keys/edge-record";
import { RECONCILE_BUDGET, reconcileEdgeRecords } from "../../src/keys/reconcile";
import { usageConfig } from "../../src/usage/config";
import type { UsageEvent, UsageMessage } from "../../src/usage/events";
import { pruneUsage } from "../../src/usage/retention";
import { rollUp } from "../../src/usage/rollup";

interface Counts {
  /** Statements D1 ran (each statement of a batch counts: the 1,000-per-invocation limit does). */
  d1Queries: number;
  /** Calls to D1 (a batch is one). */
  d1RoundTrips: number;
  rowsReturned: number;
  rowsWritten: number;
  /** Rows D1 reports it read, where the call returns metadata (drizzle's selects use raw(), which does not). */
  rowsRead: number;
  maxBoundParams: number;
  kvList: number;
  kvGet: number;
  kvPut: number;
  kvDelete: number;
}

function newCounts(): Counts {
  return {
    d1Queries: 0,
    d1RoundTrips: 0,
    rowsReturned: 0,
    rowsWritten: 0,
    rowsRead: 0,
    maxBoundParams: 0,
    kvList: 0,
    kvGet: 0,
    kvPut: 0,
    kvDelete: 0,
  };
}

function account(c: Counts, result: unknown): void {
  const r = result as { results?: unknown[]; meta?: { rows_read?: number; rows_written?: number } } | unknown[] | null;
  if (Array.isArray(r)) c.rowsReturned += r.length;
  else if (r && typeof r === "object") {
    if (Array.isArray(r.results)) c.rowsReturned += r.results.length;
    c.rowsRead += r.meta?.rows_read ?? 0;
    c.rowsWritten += r.meta?.rows_written ?? 0;
  }
}

const real = new WeakMap<object, D1PreparedStatement>();

function countingStatement(c: Counts, stmt: D1PreparedStatement): D1PreparedStatement {
  const wrapped = {
    bind(...values: unknown[]) {
      c.maxBoundParams = Math.max(c.maxBoundParams, values.length);
      return countingStatement(c, stmt.bind(...values));
    },
    async first(column?: string) {
      c.d1Queries++;
      c.d1RoundTrips++;
      const row = column === undefined ? await stmt.first() : await stmt.first(column);
      if (row !== null) c.rowsReturned++;
      return row;
    },
    async all() {
      c.d1Queries++;
      c.d1RoundTrips++;
      const result = await stmt.all();
      account(c, result);
      return result;
    },
    async run() {
      c.d1Queries++;
      c.d1RoundTrips++;
      const result = await stmt.run();
      account(c, result);
      return result;
    },
    async raw(options?: { columnNames?: boolean }) {
      c.d1Queries++;
      c.d1RoundTrips++;
      const rows = options?.columnNames ? await stmt.raw({ columnNames: true }) : await stmt.raw();
      c.rowsReturned += Math.max(0, rows.length - (options?.columnNames ? 1 : 0));
      return rows;
    },
  } as unknown as D1PreparedStatement;
  real.set(wrapped, stmt);
  return wrapped;
}

function countingD1(d1: D1Database, c: Counts): D1Database {
  return {
    prepare: (query: string) => countingStatement(c, d1.prepare(query)),
    async batch(statements: D1PreparedStatement[]) {
      c.d1Queries += statements.length;
      c.d1RoundTrips++;
      const results = await d1.batch(statements.map((s) => real.get(s) ?? s));
      for (const r of results) account(c, r);
      return results;
    },
    exec: (query: string) => d1.exec(query),
    dump: () => d1.dump(),
    withSession: () => {
      throw new Error("not counted");
    },
  } as unknown as D1Database;
}

function countingKv(kv: KVNamespace, c: Counts): KVNamespace {
  return {
    list: (options?: KVNamespaceListOptions) => {
      c.kvList++;
      return kv.list(options);
    },
    get: (name: string, options?: unknown) => {
      c.kvGet++;
      return kv.get(name, options as "text");
    },
    getWithMetadata: (name: string, options?: unknown) => {
      c.kvGet++;
      return kv.getWithMetadata(name, options as "text");
    },
    put: (name: string, value: string, options?: KVNamespacePutOptions) => {
      c.kvPut++;
      return kv.put(name, value, options);
    },
    delete: (name: string) => {
      c.kvDelete++;
      return kv.delete(name);
    },
  } as unknown as KVNamespace;
}

/** Rows of the seeded keys that call for an edge record, in id order (the seed's KV step). */
async function seedEdgeRecords(env: Env, after: string, limit: number, now: number) {
  const { results } = await env.DB.prepare(
    `SELECT id, expires_at, revoked, revoked_at, rotation_cutoff_at, rate_limits, allowed_ips, updated_at FROM api_keys
     WHERE id > ?1 AND (revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL)
       AND (expires_at IS NULL OR expires_at > ?2)
     ORDER BY id LIMIT ?3`,
  )
    .bind(after, now, limit)
    .all<Record<string, number | string | null>>();
  let written = 0;
  // Writes in parallel groups: the worker's own limit on simultaneous open connections is 6 in production, not here.
  for (let i = 0; i < results.length; i += 50) {
    await Promise.all(
      results.slice(i, i + 50).map(async (r) => {
        const record = edgeRecordOf({
          revoked: r.revoked === 1,
          revokedAt: r.revoked_at as number | null,
          rotationCutoffAt: r.rotation_cutoff_at as number | null,
          rateLimits: r.rate_limits === null ? null : JSON.parse(r.rate_limits as string),
          allowedIps: r.allowed_ips === null ? null : JSON.parse(r.allowed_ips as string),
          updatedAt: r.updated_at as number,
        });
        if (await writeEdgeRecord(env.EDGE_RECORDS, r.id as string, record, r.expires_at as number | null, now)) written++;
      }),
    );
  }
  return { written, last: results.at(-1)?.id ?? null };
}

/**
 * A queue batch as the gateway sends it: `messages` messages of `events` events each, event i of the
 * batch from key i mod `keys` (over `tenants` tenants, one client address per key), accepted but for
 * every `limitedEvery`-th event, rate limited (0: none), which raises a rate_limited alert per key.
 */
function usageBatch(
  messages: number,
  events: number,
  keys: number,
  tenants: number,
  limitedEvery: number,
  nowMs: number,
  first = 0,
  prefix = "rollup",
): UsageMessage[] {
  const batch: UsageMessage[] = [];
  for (let m = 0; m < messages; m++) {
    const list: UsageEvent[] = [];
    for (let e = 0; e < events; e++) {
      const i = first + m * events + e;
      const k = i % keys;
      const outcome = limitedEvery > 0 && i % limitedEvery === limitedEvery - 1 ? "rate_limited" : "accepted";
      list.push([
        nowMs + e,
        `${prefix}-t${k % tenants}`,
        `key-${prefix}-${k}`,
        "GET",
        "GET /api/v1/resources/**",
        200,
        outcome,
        `198.51.100.${k % 250}`,
        "DE",
        2,
      ]);
    }
    batch.push({ v: 1, id: `rollup-${crypto.randomUUID()}`, events: list });
  }
  return batch;
}

async function measured<T>(env: Env, task: (d1: D1Database, kv: KVNamespace) => Promise<T>) {
  const counts = newCounts();
  const started = Date.now();
  const result = await task(countingD1(env.DB, counts), countingKv(env.EDGE_RECORDS, counts));
  return Response.json({ ms: Date.now() - started, counts, result });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const q = (name: string) => url.searchParams.get(name);
    const now = Number(q("now") ?? Math.floor(Date.now() / 1000));
    switch (url.pathname) {
      case "/seed/edge-records":
        return Response.json(await seedEdgeRecords(env, q("after") ?? "", Number(q("limit") ?? 1000), now));
      case "/list":
        return measured(env, async (d1) => {
          const rows = await listKeys(database(d1), {
            tenant: q("tenant") ?? "",
            limit: Number(q("limit") ?? 100),
            beforeSeq: q("cursor") === null ? undefined : Number(q("cursor")),
            status: (q("status") ?? undefined) as "active" | undefined,
            unusedSince: q("unused_days") === null ? undefined : now - Number(q("unused_days")) * 86_400,
            now,
          });
          return { rows: rows.length, lastSeq: rows.at(-1)?.seq ?? null };
        });
      case "/reconcile":
        return measured(env, (d1, kv) =>
          reconcileEdgeRecords(d1, kv, now, {
            ...RECONCILE_BUDGET,
            ...(q("kv_ops") ? { kvOps: Number(q("kv_ops")) } : {}),
            ...(q("d1_queries") ? { d1Queries: Number(q("d1_queries")) } : {}),
          }),
        );
      case "/detectors":
        return measured(env, async (d1) => {
          const r = await detectScheduled(database(d1), now);
          return { raised: r.raised, deliveries: r.deliveries.length };
        });
      case "/retention":
        return measured(env, async (d1) => ({ deleted: await pruneUsage(d1, usageConfig(env), now) }));
      case "/feed-poll":
        return measured(env, async (d1) => {
          const before = { ...edgeFeedStats };
          await edgeFeedPollIfDue(d1, 10_000, now * 1000);
          return { changes: edgeFeedStats.changes - before.changes, complete: edgeFeedStats.polls > before.polls };
        });
      case "/rollup":
        return measured(env, async (d1) => {
          const keys = Number(q("keys") ?? 200);
          const messages = usageBatch(
            Number(q("messages") ?? 100),
            Number(q("events") ?? 400),
            keys,
            Number(q("tenants") ?? 20),
            Number(q("limited_every") ?? 0),
            now * 1000,
          );
          const result = await rollUp(d1, messages, now);
          return { applied: result.applied, events: messages.reduce((n, m) => n + m.events.length, 0), keys };
        });
      case "/rollup-minute":
        // A minute of traffic as `batches` queue batches (one a second), key i of the stream from key
        // i mod `keys`: rolled up batch by batch (USAGE_AGGREGATE_SECONDS = 0) or held and rolled up
        // together, as an aggregator shard's flush does (src/usage/aggregator.ts).
        return measured(env, async (d1) => {
          const batches = Number(q("batches") ?? 60);
          const messages = Number(q("messages") ?? 20);
          const events = Number(q("events") ?? 100);
          const keys = Number(q("keys") ?? 10_000);
          const tenants = Number(q("tenants") ?? 200);
          const prefix = `min-${q("mode")}-${crypto.randomUUID().slice(0, 6)}`;
          const all = Array.from({ length: batches }, (_, b) =>
            usageBatch(messages, events, keys, tenants, 0, now * 1000, b * messages * events, prefix),
          );
          if (q("mode") === "aggregated") await rollUp(d1, all.flat(), now);
          else for (const batch of all) await rollUp(d1, batch, now);
          return { events: batches * messages * events, keys: Math.min(keys, batches * messages * events) };
        });
      case "/plan": {
        const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${q("sql")}`).all();
        return Response.json(results.map((r) => (r as { detail: string }).detail));
      }
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
