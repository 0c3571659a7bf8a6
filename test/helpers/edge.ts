/** Reading edge views as the gateway does, against the real KV and D1 bindings, counting KV reads. */
import { env } from "cloudflare:workers";
import {
  type EdgeRecord,
  type EdgeView,
  MANIFEST_KEY,
  type Manifest,
  type ShardValue,
  shardKey,
  shardOf,
} from "../../src/keys/edge-record";
import { knownEdgeView, readEdgeView } from "../../src/keys/edge-view";
import { reconcileEdgeRecords } from "../../src/keys/reconcile";

/** What the gateway does: the view from what the isolate holds, else after the reads it needs. */
export async function readEdgeState(
  kv: KVNamespace,
  keyId: string,
  ttlMs: number,
  nowMs: number,
  d1: D1Database = env.DB,
): Promise<EdgeView | null> {
  const known = knownEdgeView(keyId, nowMs);
  return known !== undefined ? known : readEdgeView({ kv, d1 }, keyId, ttlMs, nowMs);
}

/** The real KV binding, counting reads (by KV key). */
export function countingKv(): { kv: KVNamespace; reads: () => number; keys: string[] } {
  const keys: string[] = [];
  const kv = new Proxy(env.EDGE_RECORDS, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return (...args: Parameters<KVNamespace["get"]>) => {
          keys.push(String(args[0]));
          return target.get(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv, reads: () => keys.length, keys };
}

/** Runs the reconciler until every shard is current (a test's D1 holds few keys: one run, as a rule). */
export async function buildSnapshot(now = Math.floor(Date.now() / 1000)) {
  for (let run = 0; run < 10; run++) {
    const report = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now);
    if (report.passCompleted) return report;
  }
  throw new Error("the snapshot did not complete in 10 runs");
}

/** A key id of the given shard (two hex digits), as keygate mints them. */
export function keyIdInShard(prefix: string): string {
  return `key-${prefix}${crypto.randomUUID().slice(2)}`;
}

/** The key's record in the snapshot KV holds (after buildSnapshot), or undefined. */
export async function snapshotRecord(keyId: string): Promise<EdgeRecord | undefined> {
  const manifest = await env.EDGE_RECORDS.get<Manifest>(MANIFEST_KEY, "json");
  const prefix = shardOf(keyId);
  const version = prefix === null ? undefined : manifest?.shards[prefix]?.[0];
  if (!prefix || !version) return undefined;
  return (await env.EDGE_RECORDS.get<ShardValue>(shardKey(prefix, version), "json"))?.records[keyId];
}

/** Rows of the change feed for a key. */
export async function feedRowsOf(keyId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM edge_changes WHERE key_id = ?").bind(keyId).first<{ n: number }>();
  return row?.n ?? 0;
}
