/**
 * A limit group's usage over time: the buckets of the keys in the group now, summed (a key that left
 * the group takes its history with it; one that joined brings its own).
 */
import * as z from "zod/mini";
import { GRANULARITIES } from "../vocab/usage.mjs";
import { keyUsageSchema, type Range } from "./query";

export const groupUsageSchema = z
  .strictObject({
    limit_group: z.string(),
    granularity: keyUsageSchema.shape.granularity,
    from: z.int(),
    to: z.int(),
    buckets: keyUsageSchema.shape.buckets,
    totals: keyUsageSchema.shape.totals,
  })
  .register(z.globalRegistry, { id: "LimitGroupUsage" });

export async function groupUsage(d1: D1Database, tenant: string, groupId: string, range: Range) {
  const step = GRANULARITIES[range.granularity];
  const { results } = await d1
    .prepare(
      `SELECT bucket, outcome, SUM(count) AS n FROM usage_counts
       WHERE granularity = ?1 AND tenant_id = ?2 AND bucket >= ?3 AND bucket < ?4
         AND key_id IN (SELECT id FROM api_keys WHERE tenant_id = ?2 AND limit_group = ?5)
       GROUP BY bucket, outcome ORDER BY bucket`,
    )
    .bind(range.granularity, tenant, range.from - (range.from % step), range.to, groupId)
    .all<{ bucket: number; outcome: string; n: number }>();
  const buckets = new Map<number, { start: number; total: number; outcomes: Record<string, number> }>();
  const totals = { total: 0, outcomes: {} as Record<string, number> };
  for (const row of results) {
    const b = buckets.get(row.bucket) ?? { start: row.bucket, total: 0, outcomes: {} };
    b.outcomes[row.outcome] = (b.outcomes[row.outcome] ?? 0) + row.n;
    b.total += row.n;
    buckets.set(row.bucket, b);
    totals.outcomes[row.outcome] = (totals.outcomes[row.outcome] ?? 0) + row.n;
    totals.total += row.n;
  }
  return { limit_group: groupId, granularity: range.granularity, from: range.from, to: range.to, buckets: [...buckets.values()], totals };
}
