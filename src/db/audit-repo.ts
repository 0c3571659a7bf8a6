/** Queries over audit_log, always scoped by tenant, and over management_refusals (the operator's). */
import { and, desc, eq, gte, lt, type SQL, sql } from "drizzle-orm";
import type { AuditAction } from "../vocab/audit.mjs";
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
  /** The client's network (an IPv4 address, an IPv6 /64); null when the request named no client. */
  network: string | null;
}

export interface RefusalCaps {
  /** Rows of their own (tenant, actor, error) an hour. */
  rowsPerHour: number;
  /** Rows a client network may start an hour, of any kind. */
  rowsPerNetwork: number;
  /** Per-tenant overflow rows an hour, beyond `rowsPerHour`. */
  tenantOverflowRows: number;
  /** What an overflow row holds in place of what it does not keep. */
  overflow: string;
}

/**
 * Adds one to a refusal's row of the hour, in one statement. The row, by the first that applies:
 * 0. its own (hour, tenant, actor, error) row, if it exists, or if its client network has started
 *    fewer than `rowsPerNetwork` rows this hour and the hour holds fewer than `rowsPerHour`;
 * 1. else the tenant's overflow row of the hour (actor and error `overflow`, the tenant kept), if it
 *    exists, or if the network may still start a row and the hour holds fewer than
 *    `rowsPerHour + tenantOverflowRows`;
 * 2. else the hour's one overflow row (tenant too `overflow`).
 * So an hour holds at most rowsPerHour + tenantOverflowRows + 1 rows, and one network fills at
 * most rowsPerNetwork of them.
 */
export async function countManagementRefusal(db: Db, r: RefusalCount, cap: RefusalCaps): Promise<void> {
  const o = cap.overflow;
  const own = sql`EXISTS (SELECT 1 FROM management_refusals WHERE hour = ${r.hour} AND tenant_id = ${r.tenantId}
      AND actor_kind = ${r.actorKind} AND actor_id = ${r.actorId} AND error = ${r.error})`;
  const tenantOverflow = sql`EXISTS (SELECT 1 FROM management_refusals WHERE hour = ${r.hour} AND tenant_id = ${r.tenantId}
      AND actor_kind = ${o} AND actor_id = ${o} AND error = ${o})`;
  const counts = sql`SELECT (SELECT count(*) FROM management_refusals WHERE hour = ${r.hour}) AS total,
      (SELECT count(*) FROM management_refusals WHERE hour = ${r.hour} AND network = ${r.network}) AS started`;
  const tier = sql`SELECT CASE
      WHEN ${own} OR (started < ${cap.rowsPerNetwork} AND total < ${cap.rowsPerHour}) THEN 0
      WHEN ${tenantOverflow} OR (started < ${cap.rowsPerNetwork} AND total < ${cap.rowsPerHour + cap.tenantOverflowRows}) THEN 1
      ELSE 2 END AS tier FROM (${counts})`;
  await db.run(sql`INSERT INTO management_refusals
      (hour, tenant_id, actor_kind, actor_id, error, count, first_at, last_at, last_ip, last_user_agent, network)
    SELECT ${r.hour}, iif(tier = 2, ${o}, ${r.tenantId}), iif(tier > 0, ${o}, ${r.actorKind}), iif(tier > 0, ${o}, ${r.actorId}),
      iif(tier > 0, ${o}, ${r.error}), 1, ${r.at}, ${r.at}, ${r.ip}, ${r.userAgent}, iif(tier = 2, NULL, ${r.network})
    FROM (${tier}) WHERE true
    ON CONFLICT (hour, tenant_id, actor_kind, actor_id, error) DO UPDATE SET
      count = count + 1, last_at = excluded.last_at, last_ip = excluded.last_ip, last_user_agent = excluded.last_user_agent`);
}
