/**
 * Audit retention, run by the cron: audit entries and the operator's refusal counts older than
 * AUDIT_RETENTION_DAYS are deleted, in bounded batches: each statement deletes at most
 * AUDIT_DELETE_CHUNK rows, found through an index on the time (audit_log_at, migrations/0006; the
 * refusal counts' primary key starts with the hour), so a run with nothing to delete reads nothing
 * and a run with a backlog reads only what it deletes. At most AUDIT_MAX_CHUNKS statements per
 * table per run (well inside D1's 1,000 queries per invocation); a backlog is finished by the next
 * runs.
 */

const SECONDS_PER_DAY = 86_400;
const SECONDS_PER_HOUR = 3600;
export const AUDIT_DELETE_CHUNK = 1000;
export const AUDIT_MAX_CHUNKS = 20;

export interface AuditPruneLimits {
  chunk: number;
  maxChunks: number;
}

const DEFAULT_LIMITS: AuditPruneLimits = { chunk: AUDIT_DELETE_CHUNK, maxChunks: AUDIT_MAX_CHUNKS };

async function deleteOldest(d1: D1Database, sql: string, params: unknown[], limits: AuditPruneLimits): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < limits.maxChunks; i++) {
    const { meta } = await d1
      .prepare(sql)
      .bind(...params, limits.chunk)
      .run();
    deleted += meta.changes;
    if (meta.changes < limits.chunk) break;
  }
  return deleted;
}

/** Deletes audit entries and refusal counts older than `retentionDays` before `now` (unix seconds); returns how many. */
export async function pruneAudit(d1: D1Database, retentionDays: number, now: number, limits = DEFAULT_LIMITS): Promise<number> {
  const cutoff = now - retentionDays * SECONDS_PER_DAY;
  let deleted = await deleteOldest(
    d1,
    "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE at < ?1 LIMIT ?2)",
    [cutoff],
    limits,
  );
  // Whole hours only: an hour's row is kept until all of it is past the cut-off.
  deleted += await deleteOldest(
    d1,
    "DELETE FROM management_refusals WHERE rowid IN (SELECT rowid FROM management_refusals WHERE hour < ?1 LIMIT ?2)",
    [cutoff - SECONDS_PER_HOUR + 1],
    limits,
  );
  return deleted;
}
