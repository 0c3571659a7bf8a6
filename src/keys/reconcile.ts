/**
 * The scheduled reconciler: KV is written after D1 and a write can fail, so the edge record of every
 * key that could still be presented is compared with KV (by the fingerprint in each entry's
 * metadata) and re-written where it is missing or different; entries D1 no longer calls for (limits
 * or an allowlist removed, the key expired) are deleted. Keys past their own `exp` are skipped:
 * their KV entries expire with them. Every repaired key is also appended to the edge change feed,
 * so isolates that cached the wrong record (the feed vouches for it) re-learn it from D1.
 *
 * At a million keys one pass does not fit in one invocation (1,000 D1 queries, 1,000 KV operations
 * on Workers Paid), so a pass is a walk in key id order that resumes from a cursor in D1
 * (cron_cursors) across cron runs, each run within RECONCILE_BUDGET. KV lists its keys in name
 * order, and every name is the prefix + the key id, so one walk covers both sides: list a KV page,
 * read D1's edge-record keys in the id range it covers (one indexed range query per page of D1
 * rows, no IN lists), and merge the two. An entry is written or deleted only when D1 and KV
 * disagree, so KV entries D1 no longer asks for are deleted by the same walk, page by page.
 *
 * The cursor is { kv: the KV list cursor of the page being walked, after: the last id done }. A run
 * that runs out of budget mid-page saves both and the next run lists that page again and skips what
 * is done: no key is checked twice or skipped within a pass. (A KV list cursor resumes after a key
 * name, so a page listed again starts where it did; it may end elsewhere, KV having changed.) At the end of KV's list the pass ends
 * and the cursor goes back to the start; the next run begins a new pass. A key changed behind the
 * cursor is caught by the next pass, so a lost KV write is repaired within two passes.
 */
import { database } from "../db/client";
import { readCronCursor, writeCronCursor } from "../db/cron-cursors";
import { edgeRecordKeysById, recordEdgeChanges } from "../db/keys-repo";
import { writeEdgeRecord } from "./edge-cache";
import { edgeRecordKey, edgeRecordOf, fingerprintOf, keyIdFromEdgeRecordKey } from "./edge-record";

const CURSOR_NAME = "reconcile-edge-records";
/** recordEdgeChanges inserts 50 feed rows per statement. */
const EDGE_CHANGES_PER_STATEMENT = 50;

/** What one run may spend. The cron's other tasks share the invocation's limits, hence the margin. */
export interface ReconcileBudget {
  /** KV list calls + writes + deletes (Workers Paid: 1,000 KV operations per invocation). */
  kvOps: number;
  /** D1 queries, the cursor's read and write and the feed rows included (Paid: 1,000 per invocation). */
  d1Queries: number;
  /** Keys per KV list call (KV's maximum is 1,000) and D1 rows per query. */
  pageSize: number;
}

export const RECONCILE_BUDGET: ReconcileBudget = { kvOps: 400, d1Queries: 200, pageSize: 1000 };

export interface ReconcileReport {
  /** D1 rows compared with KV (keys the edge must know something about). */
  checked: number;
  repaired: number;
  failed: number;
  /** This run reached the end of KV's list: the next run starts a new pass. */
  passCompleted: boolean;
  kvOps: number;
  d1Queries: number;
}

interface Cursor {
  /** KV list cursor of the page being walked (null: the first page). */
  kv: string | null;
  /** The last key id done; "" before the first. */
  after: string;
}

const start = (): Cursor => ({ kv: null, after: "" });

function parseCursor(text: string | undefined): Cursor {
  if (text === undefined) return start();
  try {
    const c = JSON.parse(text) as Partial<Cursor>;
    if ((c.kv === null || typeof c.kv === "string") && typeof c.after === "string") return { kv: c.kv, after: c.after };
  } catch {
    // fall through: a cursor this version cannot read starts a new pass
  }
  return start();
}

export async function reconcileEdgeRecords(
  d1: D1Database,
  kv: KVNamespace,
  now: number,
  budget: ReconcileBudget = RECONCILE_BUDGET,
): Promise<ReconcileReport> {
  const db = database(d1);
  const report: ReconcileReport = { checked: 0, repaired: 0, failed: 0, passCompleted: false, kvOps: 0, d1Queries: 0 };
  const repaired: string[] = [];
  const cursor = parseCursor(await readCronCursor(db, CURSOR_NAME));
  report.d1Queries++;
  // Kept for the end of the run: the cursor's write and the feed rows of the repairs.
  const d1Reserve = () => 1 + Math.ceil((repaired.length + 1) / EDGE_CHANGES_PER_STATEMENT);

  walk: for (;;) {
    if (report.kvOps >= budget.kvOps) break;
    const page = await kv.list<{ v?: string }>({ prefix: edgeRecordKey(""), cursor: cursor.kv ?? undefined, limit: budget.pageSize });
    report.kvOps++;
    if (page.keys.length === 0 && !page.list_complete) {
      cursor.kv = page.cursor; // KV may answer an empty page that is not the last
      continue;
    }
    const inKv = new Map<string, string | undefined>();
    for (const key of page.keys) {
      const keyId = keyIdFromEdgeRecordKey(key.name);
      if (keyId !== undefined && keyId > cursor.after) inKv.set(keyId, key.metadata?.v);
    }
    // The page covers ids up to its last name; the last page covers everything after.
    const lastName = page.keys.at(-1)?.name;
    const pageEnd = page.list_complete || lastName === undefined ? undefined : keyIdFromEdgeRecordKey(lastName);

    // The page was listed before by a run that stopped inside it and KV changed since (this walk's own
    // writes): it may now end before the last key done. Its keys are all done then.
    if (pageEnd === undefined || cursor.after < pageEnd) {
      for (;;) {
        if (report.d1Queries + d1Reserve() >= budget.d1Queries) break walk;
        const rows = await edgeRecordKeysById(db, now, cursor.after, pageEnd, budget.pageSize);
        report.d1Queries++;
        // A full page of rows ends at its last id; the rest of the KV page is read by the next query.
        const upTo = rows.length === budget.pageSize ? rows[rows.length - 1]?.id : pageEnd;
        const inRange = (id: string) => upTo === undefined || id <= upTo;
        const wanted = new Map(rows.map((row) => [row.id, row]));
        const ids = [...new Set([...wanted.keys(), ...[...inKv.keys()].filter(inRange)])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const id of ids) {
          const row = wanted.get(id);
          const want = row ? edgeRecordOf(row) : null;
          const have = inKv.get(id);
          const inStore = inKv.has(id);
          const needsWrite = want !== null ? have !== fingerprintOf(want) : inStore;
          if (needsWrite) {
            if (report.kvOps >= budget.kvOps) break walk; // `after` stays on the last key done
            report.kvOps++;
            if (await writeEdgeRecord(kv, id, want, row?.expiresAt ?? null, now)) {
              report.repaired++;
              repaired.push(id);
            } else report.failed++;
          }
          if (row) report.checked++;
          inKv.delete(id);
          cursor.after = id;
        }
        if (upTo === pageEnd) break;
        cursor.after = upTo ?? cursor.after;
      }
    }
    if (page.list_complete) {
      report.passCompleted = true;
      Object.assign(cursor, start());
      break;
    }
    cursor.kv = page.cursor;
    if (pageEnd !== undefined && pageEnd > cursor.after) cursor.after = pageEnd;
  }

  await recordEdgeChanges(db, repaired, now);
  report.d1Queries += Math.ceil(repaired.length / EDGE_CHANGES_PER_STATEMENT);
  await writeCronCursor(db, CURSOR_NAME, JSON.stringify(cursor), now);
  report.d1Queries++;
  return report;
}
