/** Queries over audit_log, always scoped by tenant. */
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
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
