/**
 * The scheduled reconciler: KV is written after D1 and a write can fail, so every few minutes
 * the edge state of every key that could still be presented is compared with KV and re-written
 * where it is missing or different. Keys past their own `exp` are skipped: their KV entries
 * expire with them.
 */
import { database } from "../db/client";
import { edgeStateKeys } from "../db/keys-repo";
import { type EdgeState, edgeStateKey, keyIdFromEdgeStateKey, writeEdgeState } from "./edge-state";

const D1_PAGE_SIZE = 500;

export interface ReconcileReport {
  checked: number;
  repaired: number;
  failed: number;
}

async function kvEntries(kv: KVNamespace): Promise<Map<string, EdgeState | null>> {
  const entries = new Map<string, EdgeState | null>();
  let cursor: string | undefined;
  do {
    const page = await kv.list<EdgeState>({ prefix: edgeStateKey(""), cursor });
    for (const key of page.keys) {
      const keyId = keyIdFromEdgeStateKey(key.name);
      if (keyId !== undefined) entries.set(keyId, key.metadata ?? null);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return entries;
}

export async function reconcileEdgeState(d1: D1Database, kv: KVNamespace, now: number): Promise<ReconcileReport> {
  const db = database(d1);
  const inKv = await kvEntries(kv);
  const report: ReconcileReport = { checked: 0, repaired: 0, failed: 0 };
  let afterSeq = 0;
  for (;;) {
    const rows = await edgeStateKeys(db, now, afterSeq, D1_PAGE_SIZE);
    for (const row of rows) {
      report.checked++;
      const want: EdgeState = row.revoked
        ? { state: "revoked", at: row.revokedAt ?? now }
        : { state: "rotated", at: row.rotationCutoffAt ?? now };
      const have = inKv.get(row.id);
      if (have && have.state === want.state && have.at === want.at) continue;
      if (await writeEdgeState(kv, row.id, want, row.expiresAt, now)) report.repaired++;
      else report.failed++;
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < D1_PAGE_SIZE) break;
    afterSeq = last.seq;
  }
  return report;
}
