/** Queries over api_keys. Every read and write is scoped by tenant: isolation lives here too. */
import { and, desc, eq, gt, isNotNull, isNull, lt, lte, or, type SQL } from "drizzle-orm";
import type { KeyStatus } from "../keys/status";
import type { Db } from "./client";
import { type ApiKeyRow, apiKeys, auditLog, type NewApiKeyRow, type NewAuditRow } from "./schema";

export interface ListKeysQuery {
  tenant: string;
  limit: number;
  /** Only keys with seq below this (the cursor of the previous page). */
  beforeSeq?: number;
  status?: KeyStatus;
  /** Never used, or last used before this unix time. */
  unusedSince?: number;
  now: number;
}

function statusCondition(status: KeyStatus, now: number): SQL | undefined {
  const notExpired = or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now));
  const notCutOff = or(isNull(apiKeys.rotationCutoffAt), gt(apiKeys.rotationCutoffAt, now));
  switch (status) {
    case "active":
      return and(eq(apiKeys.revoked, false), notExpired, notCutOff);
    case "revoked":
      return eq(apiKeys.revoked, true);
    case "expired":
      return and(eq(apiKeys.revoked, false), isNotNull(apiKeys.expiresAt), lte(apiKeys.expiresAt, now));
    case "rotated":
      return and(eq(apiKeys.revoked, false), notExpired, isNotNull(apiKeys.rotationCutoffAt), lte(apiKeys.rotationCutoffAt, now));
  }
}

/** Rows newest first; asks for limit + 1 so the caller knows whether a next page exists. */
export function listKeys(db: Db, q: ListKeysQuery): Promise<ApiKeyRow[]> {
  const conditions: (SQL | undefined)[] = [eq(apiKeys.tenantId, q.tenant)];
  if (q.beforeSeq !== undefined) conditions.push(lt(apiKeys.seq, q.beforeSeq));
  if (q.status) conditions.push(statusCondition(q.status, q.now));
  if (q.unusedSince !== undefined) conditions.push(or(isNull(apiKeys.lastUsed), lt(apiKeys.lastUsed, q.unusedSince)));
  return db
    .select()
    .from(apiKeys)
    .where(and(...conditions))
    .orderBy(desc(apiKeys.seq))
    .limit(q.limit + 1);
}

export async function findKey(db: Db, tenant: string, id: string): Promise<ApiKeyRow | undefined> {
  return db.query.apiKeys.findFirst({ where: and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, id)) });
}

/** Inserts a key and its audit entry atomically. */
export async function insertKey(db: Db, row: NewApiKeyRow, audit: NewAuditRow): Promise<void> {
  await db.batch([db.insert(apiKeys).values(row), db.insert(auditLog).values(audit)]);
}

export interface RevokeInput {
  at: number;
  by: string;
  reason: string | null;
}

/**
 * Marks a key revoked (first revocation wins: revoking twice keeps the original time and actor)
 * and records the audit entry in the same transaction. Returns the row as stored.
 */
export async function revokeKey(
  db: Db,
  tenant: string,
  id: string,
  input: RevokeInput,
  audit: NewAuditRow,
): Promise<ApiKeyRow | undefined> {
  const [, , rows] = await db.batch([
    db
      .update(apiKeys)
      .set({ revoked: true, revokedAt: input.at, revokedBy: input.by, revokeReason: input.reason, updatedAt: input.at })
      .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, id), eq(apiKeys.revoked, false))),
    db.insert(auditLog).values(audit),
    db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, id))),
  ]);
  return rows[0];
}

export interface UpdateInput {
  name?: string;
  metadata?: Record<string, unknown> | null;
  at: number;
}

export async function updateKey(
  db: Db,
  tenant: string,
  id: string,
  input: UpdateInput,
  audit: NewAuditRow,
): Promise<ApiKeyRow | undefined> {
  const set: Partial<NewApiKeyRow> = { updatedAt: input.at };
  if (input.name !== undefined) set.name = input.name;
  if (input.metadata !== undefined) set.metadata = input.metadata;
  const [, , rows] = await db.batch([
    db
      .update(apiKeys)
      .set(set)
      .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, id))),
    db.insert(auditLog).values(audit),
    db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, id))),
  ]);
  return rows[0];
}

/**
 * Links `oldId` to its replacement and inserts the replacement and the audit entry, in one
 * transaction, only if the old key is neither revoked nor already replaced; returns false (and
 * writes nothing) otherwise. Raw SQL: drizzle cannot express INSERT ... SELECT ... WHERE EXISTS,
 * which is what makes the three statements all-or-nothing without a read-then-write race.
 */
export async function rotateKey(
  db: Db,
  tenant: string,
  oldId: string,
  cutoffAt: number,
  replacement: NewApiKeyRow,
  audit: NewAuditRow,
): Promise<boolean> {
  const d1 = db.$client;
  const linked = "EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = ? AND id = ? AND replaced_by = ?)";
  const r = replacement;
  const [, inserted] = await d1.batch([
    d1
      .prepare(
        "UPDATE api_keys SET replaced_by = ?, rotation_cutoff_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND revoked = 0 AND replaced_by IS NULL",
      )
      .bind(r.id, cutoffAt, r.updatedAt, tenant, oldId),
    d1
      .prepare(
        `INSERT INTO api_keys (id, tenant_id, name, scopes, created_at, expires_at, expires_in_days, created_by, subject, jti, kid, metadata, rotated_from, updated_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${linked}`,
      )
      .bind(
        r.id,
        r.tenantId,
        r.name,
        JSON.stringify(r.scopes),
        r.createdAt,
        r.expiresAt ?? null,
        r.expiresInDays,
        r.createdBy,
        r.subject,
        r.jti,
        r.kid,
        r.metadata ? JSON.stringify(r.metadata) : null,
        r.rotatedFrom ?? null,
        r.updatedAt,
        tenant,
        oldId,
        r.id,
      ),
    d1
      .prepare(
        `INSERT INTO audit_log (id, at, tenant_id, actor_kind, actor_id, action, target_key_id, outcome, status, error, ip, user_agent)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${linked}`,
      )
      .bind(
        audit.id,
        audit.at,
        audit.tenantId,
        audit.actorKind,
        audit.actorId ?? null,
        audit.action,
        audit.targetKeyId ?? null,
        audit.outcome,
        audit.status,
        audit.error ?? null,
        audit.ip ?? null,
        audit.userAgent ?? null,
        tenant,
        oldId,
        r.id,
      ),
  ]);
  return inserted?.meta.changes === 1;
}

/** Writes last_used for several keys in one round trip; never moves a timestamp backwards. */
export async function touchLastUsed(db: Db, uses: ReadonlyArray<{ id: string; at: number }>): Promise<void> {
  if (uses.length === 0) return;
  const [first, ...rest] = uses.map(({ id, at }) =>
    db
      .update(apiKeys)
      .set({ lastUsed: at })
      .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsed), lt(apiKeys.lastUsed, at)))),
  );
  await db.batch([first!, ...rest]);
}

/**
 * Keys whose refusal the edge must know (revoked, or rotated with a cut-off) and that can still
 * be presented (not past their own exp), in seq order from `afterSeq`.
 */
export function edgeStateKeys(db: Db, now: number, afterSeq: number, limit: number) {
  return db
    .select({
      seq: apiKeys.seq,
      id: apiKeys.id,
      tenantId: apiKeys.tenantId,
      expiresAt: apiKeys.expiresAt,
      revoked: apiKeys.revoked,
      revokedAt: apiKeys.revokedAt,
      rotationCutoffAt: apiKeys.rotationCutoffAt,
    })
    .from(apiKeys)
    .where(
      and(
        gt(apiKeys.seq, afterSeq),
        or(eq(apiKeys.revoked, true), isNotNull(apiKeys.rotationCutoffAt)),
        or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
      ),
    )
    .orderBy(apiKeys.seq)
    .limit(limit);
}
