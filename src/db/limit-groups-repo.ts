/** Queries over limit_groups (migrations/0010). Every read and write is scoped by tenant. */
import { and, count, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "./client";
import { apiKeys, auditLog, type LimitGroupRow, limitGroups, type NewAuditRow } from "./schema";

export async function findGroup(db: Db, tenant: string, id: string): Promise<LimitGroupRow | undefined> {
  return db.query.limitGroups.findFirst({ where: and(eq(limitGroups.tenantId, tenant), eq(limitGroups.id, id)) });
}

/** Groups newest first; asks for limit + 1 so the caller knows whether a next page exists. */
export function listGroups(db: Db, tenant: string, limit: number, beforeSeq?: number): Promise<LimitGroupRow[]> {
  return db
    .select()
    .from(limitGroups)
    .where(and(eq(limitGroups.tenantId, tenant), beforeSeq === undefined ? undefined : lt(limitGroups.seq, beforeSeq)))
    .orderBy(desc(limitGroups.seq))
    .limit(limit + 1);
}

export async function countGroups(db: Db, tenant: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(limitGroups).where(eq(limitGroups.tenantId, tenant));
  return row?.n ?? 0;
}

/** The keys of a group (ids, names), newest first, at most `limit` + 1. */
export function groupKeys(db: Db, tenant: string, groupId: string, limit: number) {
  return db
    .select({ id: apiKeys.id, name: apiKeys.name, revoked: apiKeys.revoked, expiresAt: apiKeys.expiresAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.limitGroup, groupId)))
    .orderBy(desc(apiKeys.seq))
    .limit(limit + 1);
}

export async function insertGroup(db: Db, row: typeof limitGroups.$inferInsert, audit: NewAuditRow): Promise<void> {
  await db.batch([db.insert(limitGroups).values(row), db.insert(auditLog).values(audit)]);
}

export async function updateGroup(
  db: Db,
  tenant: string,
  id: string,
  set: Partial<typeof limitGroups.$inferInsert>,
  audit: NewAuditRow,
): Promise<LimitGroupRow | undefined> {
  const [, , rows] = await db.batch([
    db
      .update(limitGroups)
      .set(set)
      .where(and(eq(limitGroups.tenantId, tenant), eq(limitGroups.id, id))),
    db.insert(auditLog).values(audit),
    db
      .select()
      .from(limitGroups)
      .where(and(eq(limitGroups.tenantId, tenant), eq(limitGroups.id, id))),
  ]);
  return rows[0];
}

/**
 * Deletes a group and its audit entry in one transaction. Without `detach`, only while no key of the
 * tenant is in it (returns false otherwise, writing nothing); with it, its keys leave it first (the
 * change feed's triggers carry that to the edge). Returns the ids of the keys detached.
 */
export async function deleteGroup(
  db: Db,
  tenant: string,
  id: string,
  detach: boolean,
  at: number,
  audit: NewAuditRow,
): Promise<{ deleted: boolean; detached: string[] }> {
  const members = sql`SELECT 1 FROM api_keys WHERE tenant_id = ${tenant} AND limit_group = ${id}`;
  if (!detach) {
    const [deleted] = await db.batch([
      db
        .delete(limitGroups)
        .where(and(eq(limitGroups.tenantId, tenant), eq(limitGroups.id, id), sql`NOT EXISTS (${members})`))
        .returning({ id: limitGroups.id }),
      db.insert(auditLog).values(audit),
    ]);
    return { deleted: deleted.length > 0, detached: [] };
  }
  const [detached, deleted] = await db.batch([
    db
      .update(apiKeys)
      .set({ limitGroup: null, updatedAt: at })
      .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.limitGroup, id)))
      .returning({ id: apiKeys.id }),
    db
      .delete(limitGroups)
      .where(and(eq(limitGroups.tenantId, tenant), eq(limitGroups.id, id)))
      .returning({ id: limitGroups.id }),
    db.insert(auditLog).values(audit),
  ]);
  return { deleted: deleted.length > 0, detached: detached.map((r) => r.id) };
}
