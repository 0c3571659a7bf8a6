/**
 * The usage queue's consumer: one queue message (a batch of events from one isolate) becomes one
 * D1 transaction that records the batch id, adds its counts to the per-minute, per-hour and per-day
 * roll-ups, updates the keys' client IPs and the scopes they exercised, and runs the usage-driven detectors on the counts as they
 * stand after the batch (alerts and their webhook deliveries in the same transaction). A redelivered
 * message fails on its batch id and changes nothing, so counting is exact and idempotent per batch.
 *
 * Attribution: only events whose key signature verified carry a tenant and key. Everything else
 * (forged or garbage tokens, missing keys, public routes) is counted for the deployment (tenant ''
 * and key '') and per client, and can raise no tenant's alert.
 */
import { ALERTS_PER_STATEMENT } from "../alerts/events";
import { TENANTS_PER_QUERY, type TenantSettings, tenantSettingsOfMany } from "../alerts/settings";
import { database } from "../db/client";
import { jsonChunks, jsonRows, multiRow, statementsFor } from "../db/statements";
import { D1_MAX_QUERIES_PER_INVOCATION } from "../lib/platform-limits";
import type { UsageOutcome } from "../vocab/usage.mjs";
import { deliveryIdsOf } from "../webhooks/outbox";
import { type Aggregate, aggregate } from "./aggregate";
import { detectorStatements, newIps, priorHourCounts } from "./detectors";
import type { UsageMessage } from "./events";

/** The roll-up's lists travel as JSON parameters, JSON_ROWS_PER_STATEMENT rows each (db/statements.ts). */
const JSON_ROWS = jsonRows();

/** The D1 queries rollUp reads with: batch ids, tenant settings, known IPs, prior hour counts. */
function readQueries(messages: number, agg: Aggregate): number {
  const tenants = new Set([...agg.keyHours.values()].map((k) => k.tenant)).size;
  const keysWithIps = new Set([...agg.ips.values()].map((s) => s.keyId)).size;
  return (
    statementsFor(messages, JSON_ROWS) +
    statementsFor(tenants, TENANTS_PER_QUERY) +
    statementsFor(keysWithIps, JSON_ROWS) +
    statementsFor(agg.keyHours.size, JSON_ROWS) +
    statementsFor(agg.tenantHours.size, JSON_ROWS) +
    statementsFor(agg.clients.size, JSON_ROWS)
  );
}

/**
 * The most D1 queries rollUp could make for these messages applied together, known before any
 * read: its reads, its multi-row writes, two statements per alert with a condition (every one the
 * batch could raise: whether it fires depends on counts not read yet) and two per ALERTS_PER_STATEMENT
 * of the others. Not counted: the one-by-one retry after a concurrent redelivery (rare). An upper
 * bound for splitting a batch that rollUp refused as too big (RollupTooBig).
 */
/** Outcomes whose detectors (src/usage/detectors.ts) write a statement per key-hour whatever they find. */
const UNCONDITIONAL_OUTCOMES: readonly UsageOutcome[] = ["revoked", "rotated", "rate_limited"];

export function rollupQueries(messages: readonly UsageMessage[]): number {
  const agg = aggregate(messages.flatMap((m) => m.events));
  let unconditional = 0;
  for (const { outcomes } of agg.keyHours.values()) unconditional += UNCONDITIONAL_OUTCOMES.filter((o) => outcomes.has(o)).length;
  const conditional = agg.keyHours.size + agg.tenantHours.size + agg.clients.size + agg.ips.size;
  const reads = readQueries(messages.length, agg);
  const writes =
    statementsFor(messages.length, JSON_ROWS) +
    statementsFor(agg.counts.size, JSON_ROWS) +
    statementsFor(agg.clients.size, JSON_ROWS) +
    statementsFor(agg.lastUsed.size, JSON_ROWS) +
    statementsFor(agg.ips.size, JSON_ROWS) +
    statementsFor(agg.scopeDays.size, JSON_ROWS) +
    2 * conditional +
    2 * statementsFor(unconditional, ALERTS_PER_STATEMENT);
  return reads + writes;
}

/** rollUp would make more D1 queries than it was allowed: nothing was written. */
/**
 * The roll-up's share of D1's 1,000 queries per invocation: half, so the one-by-one fallback after a
 * concurrent redelivery, and the rest of the invocation, stay inside it too.
 */
export const ROLLUP_MAX_QUERIES = D1_MAX_QUERIES_PER_INVOCATION / 2;

export class RollupTooBig extends Error {
  constructor(readonly queries: number) {
    super(`the roll-up needs ${queries} D1 queries`);
  }
}

/** How many of the messages, from the first, rollUp can apply together within `maxQueries`. */
export function messagesWithin(messages: readonly UsageMessage[], maxQueries: number): number {
  if (rollupQueries(messages) <= maxQueries) return messages.length;
  let fits = 0;
  let over = messages.length;
  while (over - fits > 1) {
    const mid = Math.floor((fits + over) / 2);
    if (rollupQueries(messages.slice(0, mid)) <= maxQueries) fits = mid;
    else over = mid;
  }
  return fits;
}

/**
 * A message too big to roll up within `maxQueries` (events of many keys and clients), split in
 * halves until each part fits. Part ids derive from the message id, so a redelivered message splits
 * into the same parts and each part is still applied once.
 */
export function splitToFit(message: UsageMessage, maxQueries: number): UsageMessage[] {
  if (message.events.length <= 1 || rollupQueries([message]) <= maxQueries) return [message];
  const half = Math.ceil(message.events.length / 2);
  return [
    ...splitToFit({ v: 1, id: `${message.id}/0`, events: message.events.slice(0, half) }, maxQueries),
    ...splitToFit({ v: 1, id: `${message.id}/1`, events: message.events.slice(half) }, maxQueries),
  ];
}

export interface RollupResult {
  /** Messages applied now; the others had been applied before (redeliveries) and changed nothing. */
  applied: number;
  /** Webhook deliveries the batch's alerts created (to enqueue). */
  deliveries: string[];
}

/**
 * Applies usage messages, each exactly once (by its batch id), in one transaction: a queue batch of
 * many messages costs a handful of D1 round trips, not a handful per message. If a message turns
 * out to have been applied concurrently (a redelivery racing its first delivery), the transaction
 * fails on its id and changes nothing, and the messages are applied one by one instead.
 */
export async function rollUp(
  d1: D1Database,
  messages: readonly UsageMessage[],
  now: number,
  maxQueries = Number.POSITIVE_INFINITY,
): Promise<RollupResult> {
  const ids = [...new Set(messages.map((m) => m.id))];
  const applied = new Set<string>();
  for (const chunk of jsonChunks(ids)) {
    const { results } = await d1
      .prepare("SELECT id FROM usage_batches WHERE id IN (SELECT value FROM json_each(?))")
      .bind(chunk)
      .all<{ id: string }>();
    for (const row of results) applied.add(row.id);
  }
  const fresh = new Map<string, UsageMessage>();
  for (const m of messages) if (!applied.has(m.id)) fresh.set(m.id, m);
  if (fresh.size === 0) return { applied: 0, deliveries: [] };
  try {
    return await applyTogether(d1, [...fresh.values()], now, maxQueries);
  } catch (err) {
    if (!isDuplicateBatch(err)) throw err;
    if (fresh.size === 1) return { applied: 0, deliveries: [] };
    const result: RollupResult = { applied: 0, deliveries: [] };
    for (const m of fresh.values()) {
      const one = await rollUp(d1, [m], now, maxQueries);
      result.applied += one.applied;
      result.deliveries.push(...one.deliveries);
    }
    return result;
  }
}

function isDuplicateBatch(err: unknown): boolean {
  return String(err).includes("UNIQUE constraint failed: usage_batches.id");
}

async function applyTogether(d1: D1Database, messages: UsageMessage[], now: number, maxQueries: number): Promise<RollupResult> {
  const agg = aggregate(messages.flatMap((m) => m.events));
  const db = database(d1);
  const tenants = new Set([...agg.keyHours.values()].map((k) => k.tenant));
  const settings = new Map<string, TenantSettings>();
  for (const [tenant, s] of await tenantSettingsOfMany(db, [...tenants])) settings.set(tenant, s);
  const fresh = await newIps(d1, agg.ips);
  const prior = await priorHourCounts(d1, agg);

  const statements: D1PreparedStatement[] = [
    // First: a batch applied meanwhile fails here, and the whole transaction with it.
    ...multiRow(
      d1,
      "INSERT INTO usage_batches (id, applied_at)",
      "",
      messages.map((m) => [m.id, now]),
    ),
    ...multiRow(
      d1,
      "INSERT INTO usage_counts (granularity, tenant_id, key_id, bucket, outcome, count)",
      "ON CONFLICT (granularity, tenant_id, key_id, bucket, outcome) DO UPDATE SET count = count + excluded.count",
      [...agg.counts].map(([key, n]) => {
        const [granularity, tenant, keyId, bucket, outcome] = key.split("|") as [string, string, string, string, string];
        return [granularity, tenant, keyId, Number(bucket), outcome, n];
      }),
    ),
    ...multiRow(
      d1,
      "INSERT INTO client_refusals (hour, tenant_id, ip, count)",
      "ON CONFLICT (hour, tenant_id, ip) DO UPDATE SET count = count + excluded.count",
      [...agg.clients].map(([key, n]) => {
        const [hour, tenant, ip] = key.split("|") as [string, string, string];
        return [Number(hour), tenant, ip, n];
      }),
    ),
    // Detectors read the counts above and key_ips as it was before this batch (new_ip).
    ...detectorStatements(d1, agg, prior, fresh, settings, now),
    // last_used of every key with an accepted request, never moved backwards.
    ...multiRow(
      d1,
      "UPDATE api_keys SET last_used = v.column2 FROM (",
      ") AS v WHERE api_keys.id = v.column1 AND (api_keys.last_used IS NULL OR api_keys.last_used < v.column2)",
      [...agg.lastUsed].map(([keyId, at]) => [keyId, at]),
    ),
    ...multiRow(
      d1,
      "INSERT INTO key_ips (tenant_id, key_id, ip, first_seen, last_seen, count, country)",
      `ON CONFLICT (key_id, ip) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen),
         country = CASE WHEN excluded.last_seen >= last_seen THEN COALESCE(excluded.country, country) ELSE country END,
         last_seen = MAX(last_seen, excluded.last_seen), count = count + excluded.count`,
      [...agg.ips.values()].map((s) => [s.tenant, s.keyId, s.ip, s.first, s.last, s.count, s.country]),
    ),
    // Which scope satisfied each accepted request: the least-privilege report reads it (src/governance/scope-usage.ts).
    ...multiRow(
      d1,
      "INSERT INTO scope_usage (tenant_id, key_id, scope, day, count, last_at)",
      "ON CONFLICT (key_id, scope, day) DO UPDATE SET count = count + excluded.count, last_at = MAX(last_at, excluded.last_at)",
      [...agg.scopeDays.values()].map((s) => [s.tenant, s.keyId, s.scope, s.day, s.count, s.last]),
    ),
  ];
  // The reads so far (batch ids, settings, key_ips, prior counts) and the writes: within the budget,
  // or nothing is written and the caller splits the batch.
  const reads = readQueries(messages.length, agg);
  if (reads + statements.length > maxQueries) throw new RollupTooBig(reads + statements.length);
  const results = await d1.batch(statements);
  return { applied: messages.length, deliveries: deliveryIdsOf(results) };
}
