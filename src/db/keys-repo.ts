/** Queries over api_keys. Every read and write is scoped by tenant: isolation lives here too. */
import { and, desc, eq, getTableColumns, getTableName, gt, gte, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { type KeyStatus, keyStatusSql } from "../vocab/key-status.mjs";
import type { Db } from "./client";
import { type ApiKeyRow, apiKeys, auditLog, edgeChanges, type NewApiKeyRow, type NewAuditRow } from "./schema";
import { boundParameters, chunks, d1Statement, returnedIds } from "./statements";

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

/** `?status=`: the vocabulary's predicate (src/vocab/key-status.mjs), with `now` bound where it says. */
function statusCondition(status: KeyStatus, now: number): SQL {
  const parts = keyStatusSql(status, `"${getTableName(apiKeys)}".`);
  return sql.join(parts.flatMap((part, i) => (i === 0 ? [sql.raw(part)] : [sql`${now}`, sql.raw(part)])));
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

/**
 * The rows of many keys, each named by tenant and id, in one round trip (one batch of statements
 * binding two parameters per key). Keys D1 does not know are simply absent.
 */
export async function findKeys(db: Db, refs: ReadonlyArray<{ tenant: string; id: string }>): Promise<ApiKeyRow[]> {
  if (refs.length === 0) return [];
  const statements = chunks(refs, boundParameters(2)).map((chunk) =>
    db
      .select()
      .from(apiKeys)
      .where(or(...chunk.map((r) => and(eq(apiKeys.tenantId, r.tenant), eq(apiKeys.id, r.id))))),
  );
  const [first, ...rest] = statements;
  return (await db.batch([first!, ...rest])).flat();
}

/** Inserts a key and its audit entry atomically. */
/** Inserts a key, its audit entry and its event's webhook deliveries atomically; returns the delivery ids. */
export async function insertKey(db: Db, row: NewApiKeyRow, audit: NewAuditRow, event: SQL): Promise<string[]> {
  const d1 = db.$client;
  const results = await d1.batch([
    d1Statement(d1, db.insert(apiKeys).values(row)),
    d1Statement(d1, db.insert(auditLog).values(audit)),
    d1Statement(d1, event),
  ]);
  return returnedIds(results[2] ?? []);
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
  /** Deliveries of the key.revoked event: must be gated on `changes() > 0` (only a first revocation). */
  event: SQL,
): Promise<{ row: ApiKeyRow | undefined; deliveries: string[] }> {
  const d1 = db.$client;
  const results = await d1.batch([
    d1Statement(
      d1,
      db
        .update(apiKeys)
        .set({ revoked: true, revokedAt: input.at, revokedBy: input.by, revokeReason: input.reason, updatedAt: input.at })
        .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, id), eq(apiKeys.revoked, false))),
    ),
    d1Statement(d1, event),
    d1Statement(d1, db.insert(auditLog).values(audit)),
  ]);
  return { row: await findKey(db, tenant, id), deliveries: returnedIds(results[1] ?? []) };
}

export interface UpdateInput {
  name?: string;
  metadata?: Record<string, unknown> | null;
  rateLimits?: ApiKeyRow["rateLimits"];
  allowedIps?: ApiKeyRow["allowedIps"];
  quota?: ApiKeyRow["quota"];
  limitGroup?: ApiKeyRow["limitGroup"];
  exemptFromUnusedPolicy?: boolean;
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
  if (input.rateLimits !== undefined) set.rateLimits = input.rateLimits;
  if (input.allowedIps !== undefined) set.allowedIps = input.allowedIps;
  if (input.quota !== undefined) set.quota = input.quota;
  if (input.limitGroup !== undefined) set.limitGroup = input.limitGroup;
  if (input.exemptFromUnusedPolicy !== undefined) set.exemptFromUnusedPolicy = input.exemptFromUnusedPolicy;
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
 * `INSERT INTO <table> (<columns>) SELECT <values> WHERE <condition>`, with the columns derived from
 * the drizzle schema (every field the row sets, encoded as drizzle encodes it): drizzle cannot
 * express an INSERT ... SELECT of constants, and a hand-kept column list would drift from it.
 */
function insertWhere(table: SQLiteTable, row: Record<string, unknown>, condition: SQL): SQL {
  const columns = Object.entries(getTableColumns(table)).filter(([key]) => row[key] !== undefined);
  const names = columns.map(([, column]) => column.name);
  const values = columns.map(([key, column]) => (row[key] === null ? null : column.mapToDriverValue(row[key])));
  return sql`INSERT INTO ${sql.raw(getTableName(table))} (${sql.raw(names.join(", "))}) SELECT ${sql.join(
    values.map((value) => sql`${value}`),
    sql`, `,
  )} WHERE ${condition}`;
}

/**
 * Links `oldId` to its replacement and inserts the replacement and the audit entry, in one
 * transaction, only if the old key is neither revoked nor already replaced; returns false (and
 * writes nothing) otherwise. INSERT ... SELECT ... WHERE EXISTS is what makes the three statements
 * all-or-nothing without a read-then-write race.
 */
export async function rotateKey(
  db: Db,
  tenant: string,
  oldId: string,
  cutoffAt: number,
  replacement: NewApiKeyRow,
  audit: NewAuditRow,
  /** Deliveries of the key.rotated event, given the SQL condition "this rotation happened". */
  event: (linked: SQL) => SQL,
): Promise<{ rotated: boolean; deliveries: string[] }> {
  const d1 = db.$client;
  const linked = sql`EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = ${tenant} AND id = ${oldId} AND replaced_by = ${replacement.id})`;
  const [, inserted, , deliveries] = await d1.batch([
    d1Statement(
      d1,
      db
        .update(apiKeys)
        .set({ replacedBy: replacement.id, rotationCutoffAt: cutoffAt, updatedAt: replacement.updatedAt })
        .where(and(eq(apiKeys.tenantId, tenant), eq(apiKeys.id, oldId), eq(apiKeys.revoked, false), isNull(apiKeys.replacedBy))),
    ),
    d1Statement(d1, insertWhere(apiKeys, replacement, linked)),
    d1Statement(d1, insertWhere(auditLog, audit, linked)),
    d1Statement(d1, event(linked)),
  ]);
  // D1 counts the rows its triggers write too (the edge change feed's), so: any change at all.
  return { rotated: (inserted?.meta.changes ?? 0) > 0, deliveries: deliveries ? returnedIds(deliveries) : [] };
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

/** The columns a key's edge record is made of (edgeRecordOf), with its id and expiry. */
const EDGE_RECORD_COLUMNS = {
  id: apiKeys.id,
  expiresAt: apiKeys.expiresAt,
  revoked: apiKeys.revoked,
  revokedAt: apiKeys.revokedAt,
  rotationCutoffAt: apiKeys.rotationCutoffAt,
  rateLimits: apiKeys.rateLimits,
  allowedIps: apiKeys.allowedIps,
  quota: apiKeys.quota,
  limitGroup: apiKeys.limitGroup,
  metadata: apiKeys.metadata,
  updatedAt: apiKeys.updatedAt,
};

/**
 * Keys the edge must know something about (revoked, rotated, rate-limited, allowlisted or with metadata) and that
 * can still be presented (not past their own exp), in id order: ids after `afterId` and up to
 * `upToId` (inclusive; no upper bound when undefined), at most `limit`. The condition is written
 * out literally so SQLite uses the partial index api_keys_edge_record_id (migrations/0012): a
 * bound parameter cannot prove a row is in a partial index.
 */
export function edgeRecordKeysById(db: Db, now: number, afterId: string, upToId: string | undefined, limit: number) {
  return db
    .select(EDGE_RECORD_COLUMNS)
    .from(apiKeys)
    .where(
      and(
        gt(apiKeys.id, afterId),
        upToId === undefined ? undefined : lte(apiKeys.id, upToId),
        sql`(${apiKeys.revoked} = 1 OR ${apiKeys.rotationCutoffAt} IS NOT NULL OR ${apiKeys.rateLimits} IS NOT NULL OR ${apiKeys.allowedIps} IS NOT NULL OR ${apiKeys.metadata} IS NOT NULL OR ${apiKeys.quota} IS NOT NULL OR ${apiKeys.limitGroup} IS NOT NULL)`,
        or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
      ),
    )
    .orderBy(apiKeys.id)
    .limit(limit);
}

/** Where a page of the edge change feed starts: after a position, or (first poll) at a time. */
export type EdgeFeedFrom = { afterSeq: number } | { sinceAt: number };

/**
 * One page of the edge change feed (edge_changes, appended by D1 triggers), in seq order, each change
 * with its key's current edge columns; and, read in the same transaction, the feed's first and last
 * seq (a first seq past the reader's position means rows it never saw were pruned).
 */
export async function edgeChangesPage(db: Db, from: EdgeFeedFrom, limit: number) {
  const [rows, bounds] = await db.batch([
    db
      .select({ seq: edgeChanges.seq, ...EDGE_RECORD_COLUMNS })
      .from(edgeChanges)
      .innerJoin(apiKeys, eq(apiKeys.id, edgeChanges.keyId))
      .where("afterSeq" in from ? gt(edgeChanges.seq, from.afterSeq) : gte(edgeChanges.at, from.sinceAt))
      .orderBy(edgeChanges.seq)
      .limit(limit),
    db.select({ first: sql<number | null>`min(${edgeChanges.seq})`, last: sql<number | null>`max(${edgeChanges.seq})` }).from(edgeChanges),
  ]);
  return { rows, first: bounds[0]?.first ?? null, last: bounds[0]?.last ?? null };
}

/**
 * Which groups of keys changed after `afterSeq` in the edge change feed: the last seq per group,
 * a group being the `length` characters of the key id from `offset` (1-based); and, read in the same
 * transaction, the feed's first and last seq and D1's clock (unix s), which the changes are as of.
 */
export async function edgeChangesByIdPrefix(db: Db, afterSeq: number, offset: number, length: number) {
  const prefix = sql<string>`substr(${edgeChanges.keyId}, ${offset}, ${length})`;
  const [groups, bounds] = await db.batch([
    db
      .select({ prefix, seq: sql<number>`max(${edgeChanges.seq})` })
      .from(edgeChanges)
      .where(gt(edgeChanges.seq, afterSeq))
      .groupBy(prefix),
    db
      .select({
        first: sql<number | null>`min(${edgeChanges.seq})`,
        last: sql<number | null>`max(${edgeChanges.seq})`,
        now: sql<number>`CAST(strftime('%s', 'now') AS INTEGER)`,
      })
      .from(edgeChanges),
  ]);
  const b = bounds[0];
  return { groups, first: b?.first ?? null, last: b?.last ?? null, now: b?.now ?? Math.floor(Date.now() / 1000) };
}

/** The edge columns of these keys (ids as one JSON parameter: any number within D1's 2 MB value). */
export function edgeRowsOf(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .select(EDGE_RECORD_COLUMNS)
    .from(apiKeys)
    .where(sql`${apiKeys.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`);
}
