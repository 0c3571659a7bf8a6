/**
 * Reading usage: a key's series of buckets by outcome, a tenant's totals and top keys, a key's
 * client IPs. Always scoped by tenant; a key of another tenant is "not found".
 */
import * as z from "zod/mini";
import { ApiError } from "../errors";
import { boundedInt, oneOf } from "../http/validate";
import { GRANULARITIES, GRANULARITY_NAMES, type Granularity } from "../vocab/usage.mjs";

const DAY = 86_400;
/** The longest range a query may span per granularity (about 1,500 buckets at most). */
const MAX_RANGE_SECONDS: Record<Granularity, number> = { minute: DAY, hour: 90 * DAY, day: 731 * DAY };
const DEFAULT_RANGE_SECONDS = DAY;
const TOP_KEYS = 20;
export const MAX_IPS = 1000;

const unixTime = (field: string, what: string) =>
  boundedInt(field, 0, 99_999_999_999, "0 to 99999999999 (unix seconds)").check(z.describe(what));

export const usageQuerySchema = z.object({
  from: z.optional(unixTime("from", "Start of the range, unix seconds (default: `to` minus 24 hours).")),
  to: z.optional(unixTime("to", "End of the range, unix seconds, exclusive (default: now).")),
  granularity: z.optional(oneOf("granularity", GRANULARITY_NAMES)),
});

export const tenantUsageQuerySchema = z.object({
  from: usageQuerySchema.shape.from,
  to: usageQuerySchema.shape.to,
});

export const ipsQuerySchema = z.object({ limit: z.optional(boundedInt("limit", 1, MAX_IPS)) });

const outcomesSchema = z.record(z.string(), z.int()).check(z.describe("Requests by outcome: accepted, or why they were refused."));
const bucketSchema = z.strictObject({ start: z.int(), total: z.int(), outcomes: outcomesSchema });
const totalsSchema = z.strictObject({ total: z.int(), outcomes: outcomesSchema });

export const keyUsageSchema = z
  .strictObject({
    key_id: z.string(),
    granularity: z.enum(GRANULARITY_NAMES),
    from: z.int(),
    to: z.int(),
    buckets: z.array(bucketSchema).check(z.describe("Buckets with traffic, oldest first (empty buckets are left out).")),
    totals: totalsSchema,
  })
  .register(z.globalRegistry, { id: "KeyUsage" });

export const tenantUsageSchema = z
  .strictObject({
    from: z.int(),
    to: z.int(),
    granularity: z.enum(GRANULARITY_NAMES),
    totals: totalsSchema,
    keys: z.array(z.strictObject({ key_id: z.string(), name: z.nullable(z.string()), total: z.int(), outcomes: outcomesSchema })),
    dropped_events: z.int().check(z.describe("Usage events of the whole deployment the pipeline dropped in the range (queue refused).")),
  })
  .register(z.globalRegistry, { id: "TenantUsage" });

export const keyIpSchema = z
  .strictObject({ ip: z.string(), first_seen: z.int(), last_seen: z.int(), count: z.int(), country: z.nullable(z.string()) })
  .register(z.globalRegistry, { id: "KeyClientIp" });

export interface Range {
  from: number;
  to: number;
  granularity: Granularity;
}

/** The range asked for, checked: from before to, not longer than the granularity allows. */
export function rangeOf(query: { from?: number; to?: number; granularity?: Granularity }, now: number, fallback: Granularity): Range {
  const to = query.to ?? now;
  const from = query.from ?? to - DEFAULT_RANGE_SECONDS;
  const granularity = query.granularity ?? fallback;
  if (from >= to) throw new ApiError("invalid_request", "from must be before to");
  if (to - from > MAX_RANGE_SECONDS[granularity]) {
    throw new ApiError(
      "invalid_request",
      `from..to may span at most ${MAX_RANGE_SECONDS[granularity] / DAY} day(s) with granularity=${granularity}`,
    );
  }
  return { from, to, granularity };
}

/** Tenant totals: hours while they are kept for the whole range and it is short enough, else days. */
export function tenantGranularity(from: number, to: number, now: number, hourRetentionDays: number): Granularity {
  return from >= now - hourRetentionDays * DAY && to - from <= MAX_RANGE_SECONDS.hour ? "hour" : "day";
}

function alignedStart(from: number, granularity: Granularity): number {
  const step = GRANULARITIES[granularity];
  return from - (from % step);
}

interface CountRow {
  bucket: number;
  outcome: string;
  n: number;
}

function toTotals(rows: readonly { outcome: string; n: number }[]) {
  const outcomes: Record<string, number> = {};
  let total = 0;
  for (const { outcome, n } of rows) {
    outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
    total += n;
  }
  return { total, outcomes };
}

export async function keyUsage(d1: D1Database, tenant: string, keyId: string, range: Range) {
  const { results } = await d1
    .prepare(
      `SELECT bucket, outcome, count AS n FROM usage_counts
       WHERE granularity = ? AND tenant_id = ? AND key_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`,
    )
    .bind(range.granularity, tenant, keyId, alignedStart(range.from, range.granularity), range.to)
    .all<CountRow>();
  const buckets = new Map<number, CountRow[]>();
  for (const row of results) buckets.set(row.bucket, [...(buckets.get(row.bucket) ?? []), row]);
  return {
    key_id: keyId,
    granularity: range.granularity,
    from: range.from,
    to: range.to,
    buckets: [...buckets].map(([start, rows]) => ({ start, ...toTotals(rows) })),
    totals: toTotals(results),
  };
}

export async function tenantUsage(d1: D1Database, tenant: string, range: Range) {
  const start = alignedStart(range.from, range.granularity);
  const [totals, byKey, losses] = await d1.batch<Record<string, unknown>>([
    d1
      .prepare(
        "SELECT outcome, SUM(count) AS n FROM usage_counts WHERE granularity = ? AND tenant_id = ? AND bucket >= ? AND bucket < ? GROUP BY outcome",
      )
      .bind(range.granularity, tenant, start, range.to),
    d1
      .prepare(
        `WITH top AS (
           SELECT key_id, SUM(count) AS total FROM usage_counts
           WHERE granularity = ?1 AND tenant_id = ?2 AND bucket >= ?3 AND bucket < ?4 GROUP BY key_id ORDER BY total DESC LIMIT ${TOP_KEYS})
         SELECT u.key_id, k.name, top.total, u.outcome, SUM(u.count) AS n
         FROM top JOIN usage_counts u ON u.key_id = top.key_id AND u.granularity = ?1 AND u.tenant_id = ?2 AND u.bucket >= ?3 AND u.bucket < ?4
         LEFT JOIN api_keys k ON k.id = u.key_id AND k.tenant_id = ?2
         GROUP BY u.key_id, u.outcome ORDER BY top.total DESC, u.key_id`,
      )
      .bind(range.granularity, tenant, start, range.to),
    d1
      .prepare("SELECT COALESCE(SUM(events), 0) AS n FROM usage_losses WHERE day >= ? AND day < ?")
      .bind(alignedStart(range.from, "day"), range.to),
  ]);
  const keys = new Map<string, { key_id: string; name: string | null; total: number; outcomes: Record<string, number> }>();
  for (const row of (byKey?.results ?? []) as { key_id: string; name: string | null; total: number; outcome: string; n: number }[]) {
    const entry = keys.get(row.key_id) ?? { key_id: row.key_id, name: row.name, total: row.total, outcomes: {} };
    entry.outcomes[row.outcome] = row.n;
    keys.set(row.key_id, entry);
  }
  return {
    from: range.from,
    to: range.to,
    granularity: range.granularity,
    totals: toTotals((totals?.results ?? []) as { outcome: string; n: number }[]),
    keys: [...keys.values()],
    dropped_events: Number((losses?.results[0] as { n?: number } | undefined)?.n ?? 0),
  };
}

export async function keyIps(d1: D1Database, tenant: string, keyId: string, limit: number) {
  const { results } = await d1
    .prepare(
      "SELECT ip, first_seen, last_seen, count, country FROM key_ips WHERE tenant_id = ? AND key_id = ? ORDER BY last_seen DESC, ip LIMIT ?",
    )
    .bind(tenant, keyId, limit)
    .all<{ ip: string; first_seen: number; last_seen: number; count: number; country: string | null }>();
  return results;
}
