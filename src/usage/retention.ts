/**
 * Retention, run by the cron: roll-ups are kept per granularity (USAGE_RETENTION_*_DAYS: 7 days of
 * minutes, 90 days of hours, 2 years of days by default), per-client refusal counts as long as
 * hours, a key's client IPs as long as days, the scopes it exercised as long as days but at most a year, batch ids a week (redeliveries come within minutes),
 * finished webhook deliveries 30 days and alerts a year; the edge change feed a day (an isolate that
 * has not polled for that long starts over; the newest row stays so the feed's position survives).
 */
import type { UsageConfig } from "./config";

const DAY = 86_400;
const BATCH_ID_RETENTION_DAYS = 7;
const DELIVERY_RETENTION_DAYS = 30;
const ALERT_RETENTION_DAYS = 365;
const EDGE_CHANGE_RETENTION_DAYS = 1;
/** The longest window the least-privilege report reads (src/governance/scope-usage.ts MAX_WINDOW_DAYS). */
export const SCOPE_USAGE_RETENTION_DAYS = 365;
/** Rows deleted per statement, so a large backlog does not become one long transaction. */
const DELETE_CHUNK = 10_000;
/** Chunks per table per cron run; the next run continues. */
const MAX_CHUNKS = 10;
/**
 * Minute roll-ups expire fastest: one row per active key and minute, 14.4 million a day for 10,000
 * keys active all day. At 10 chunks a run (28.8 million a day) retention would fall behind at about
 * 20,000 such keys; 50 chunks (144 million a day, 50 queries) keep up with 100,000 (docs/capacity.md).
 */
const MINUTE_MAX_CHUNKS = 50;

async function deleteInChunks(
  d1: D1Database,
  table: string,
  key: string,
  where: string,
  params: unknown[],
  maxChunks = MAX_CHUNKS,
): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < maxChunks; i++) {
    const result = await d1
      .prepare(`DELETE FROM ${table} WHERE (${key}) IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${DELETE_CHUNK})`)
      .bind(...params)
      .run();
    deleted += result.meta.changes;
    if (result.meta.changes < DELETE_CHUNK) break;
  }
  return deleted;
}

export async function pruneUsage(d1: D1Database, config: UsageConfig, now: number): Promise<number> {
  const { minute, hour, day } = config.retentionDays;
  const counts = "granularity, tenant_id, key_id, bucket, outcome";
  let deleted = 0;
  for (const [granularity, days] of [
    ["minute", minute],
    ["hour", hour],
    ["day", day],
  ] as const) {
    const chunks = granularity === "minute" ? MINUTE_MAX_CHUNKS : MAX_CHUNKS;
    deleted += await deleteInChunks(d1, "usage_counts", counts, "granularity = ? AND bucket < ?", [granularity, now - days * DAY], chunks);
  }
  deleted += await deleteInChunks(d1, "client_refusals", "hour, tenant_id, ip", "hour < ?", [now - hour * DAY]);
  deleted += await deleteInChunks(d1, "key_ips", "key_id, ip", "last_seen < ?", [now - day * DAY]);
  // The least-privilege report looks back at most SCOPE_USAGE_RETENTION_DAYS: a row per key, scope and day is not kept longer.
  const scopeDays = Math.min(day, SCOPE_USAGE_RETENTION_DAYS) + 1;
  deleted += await deleteInChunks(d1, "scope_usage", "key_id, scope, day", "day < ?", [now - scopeDays * DAY]);
  deleted += await deleteInChunks(d1, "usage_batches", "id", "applied_at < ?", [now - BATCH_ID_RETENTION_DAYS * DAY]);
  deleted += await deleteInChunks(d1, "usage_losses", "day", "day < ?", [now - day * DAY]);
  deleted += await deleteInChunks(d1, "alerts", "seq", "created_at < ?", [now - ALERT_RETENTION_DAYS * DAY]);
  deleted += await deleteInChunks(d1, "webhook_attempts", "delivery_id, attempt", "at < ?", [now - DELIVERY_RETENTION_DAYS * DAY]);
  deleted += await deleteInChunks(d1, "webhook_deliveries", "seq", "status <> 'pending' AND updated_at < ?", [
    now - DELIVERY_RETENTION_DAYS * DAY,
  ]);
  deleted += await deleteInChunks(d1, "edge_changes", "seq", "at < ? AND seq < (SELECT max(seq) FROM edge_changes)", [
    now - EDGE_CHANGE_RETENTION_DAYS * DAY,
  ]);
  return deleted;
}
