/**
 * The scheduled reconciler: KV is written after D1 and a write can fail, so every few minutes the
 * edge record of every key that could still be presented is compared with KV (by the fingerprint
 * in each entry's metadata) and re-written where it is missing or different; entries D1 no longer
 * calls for (limits or an allowlist removed) are deleted. Keys past their own `exp` are skipped:
 * their KV entries expire with them. Every repaired key is also appended to the edge change feed,
 * so isolates that cached the wrong record (the feed vouches for it) re-learn it from D1.
 */
import { database } from "../db/client";
import { edgeRecordKeys, recordEdgeChanges } from "../db/keys-repo";
import { edgeRecordKey, edgeRecordOf, fingerprintOf, keyIdFromEdgeRecordKey, writeEdgeRecord } from "./edge-record";

const D1_PAGE_SIZE = 500;

export interface ReconcileReport {
  checked: number;
  repaired: number;
  failed: number;
}

/** key id -> the fingerprint its KV entry carries (undefined for entries written without one). */
async function kvEntries(kv: KVNamespace): Promise<Map<string, string | undefined>> {
  const entries = new Map<string, string | undefined>();
  let cursor: string | undefined;
  do {
    const page = await kv.list<{ v?: string }>({ prefix: edgeRecordKey(""), cursor });
    for (const key of page.keys) {
      const keyId = keyIdFromEdgeRecordKey(key.name);
      if (keyId !== undefined) entries.set(keyId, key.metadata?.v);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return entries;
}

export async function reconcileEdgeRecords(d1: D1Database, kv: KVNamespace, now: number): Promise<ReconcileReport> {
  const db = database(d1);
  const inKv = await kvEntries(kv);
  const report: ReconcileReport = { checked: 0, repaired: 0, failed: 0 };
  const repaired: string[] = [];
  const repair = async (keyId: string, ok: Promise<boolean>) => {
    if (await ok) {
      report.repaired++;
      repaired.push(keyId);
    } else report.failed++;
  };
  let afterSeq = 0;
  for (;;) {
    const rows = await edgeRecordKeys(db, now, afterSeq, D1_PAGE_SIZE);
    for (const row of rows) {
      report.checked++;
      const want = edgeRecordOf(row);
      const have = inKv.get(row.id);
      inKv.delete(row.id);
      if (want === null) continue;
      if (have !== fingerprintOf(want)) await repair(row.id, writeEdgeRecord(kv, row.id, want, row.expiresAt, now));
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < D1_PAGE_SIZE) break;
    afterSeq = last.seq;
  }
  // What is left in KV, D1 no longer asks for (limits or allowlist removed, or the key expired).
  for (const keyId of inKv.keys()) await repair(keyId, writeEdgeRecord(kv, keyId, null, null, now));
  await recordEdgeChanges(db, repaired, now);
  return report;
}
