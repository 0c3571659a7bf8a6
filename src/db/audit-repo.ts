/** Queries over audit_log, always scoped by tenant, and over management_refusals (the operator's). */
import { and, desc, eq, gte, lt, type SQL, sql } from "drizzle-orm";
import type { AuditAction } from "../audit/entry";
import type { Db } from "./client";
import { type AuditRow, auditLog, type NewAuditRow } from "./schema";

export async function insertAudit(db: Db, row: NewAuditRow): Promise<void> {
  await db.insert(auditLog).values(row);
}

export interface ListAuditQuery {
  tenant: string;
  limit: number;
  beforeSeq?: number;
  keyId?: string;
  action?: AuditAction;
  since?: number;
}

/** Entries newest first; asks for limit + 1 so the caller knows whether a next page exists. */
export function listAudit(db: Db, q: ListAuditQuery): Promise<AuditRow[]> {
  const conditions: SQL[] = [eq(auditLog.tenantId, q.tenant)];
  if (q.beforeSeq !== undefined) conditions.push(lt(auditLog.seq, q.beforeSeq));
  if (q.keyId !== undefined) conditions.push(eq(auditLog.targetKeyId, q.keyId));
  if (q.action !== undefined) conditions.push(eq(auditLog.action, q.action));
  if (q.since !== undefined) conditions.push(gte(auditLog.at, q.since));
  return db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.seq))
    .limit(q.limit + 1);
}

export interface RefusalCount {
  hour: number;
  tenantId: string;
  actorKind: string;
  actorId: string;
  error: string;
  at: number;
  ip: string | null;
  userAgent: string | null;
}

/**
 * Adds one to a refusal's row of the hour, in one statement: its own row, unless that row is new
 * and the hour already holds `rowsPerHour` rows; then the hour's overflow row (every text key `overflow`).
 */
export async function countManagementRefusal(db: Db, r: RefusalCount, cap: { rowsPerHour: number; overflow: string }): Promise<void> {
  const full = sql`((SELECT count(*) FROM management_refusals WHERE hour = ${r.hour}) >= ${cap.rowsPerHour}
    AND NOT EXISTS (SELECT 1 FROM management_refusals WHERE hour = ${r.hour} AND tenant_id = ${r.tenantId}
      AND actor_kind = ${r.actorKind} AND actor_id = ${r.actorId} AND error = ${r.error}))`;
  const o = cap.overflow;
  await db.run(sql`INSERT INTO management_refusals
      (hour, tenant_id, actor_kind, actor_id, error, count, first_at, last_at, last_ip, last_user_agent)
    SELECT ${r.hour}, iif(f, ${o}, ${r.tenantId}), iif(f, ${o}, ${r.actorKind}), iif(f, ${o}, ${r.actorId}), iif(f, ${o}, ${r.error}),
      1, ${r.at}, ${r.at}, ${r.ip}, ${r.userAgent}
    FROM (SELECT ${full} AS f) WHERE true
    ON CONFLICT (hour, tenant_id, actor_kind, actor_id, error) DO UPDATE SET
      count = count + 1, last_at = excluded.last_at, last_ip = excluded.last_ip, last_user_agent = excluded.last_user_agent`);
}
