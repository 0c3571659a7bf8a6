/** Reading edge records as the gateway does, against the real KV binding, counting KV reads. */
import { env } from "cloudflare:workers";
import { cachedEdgeView, fetchEdgeView } from "../../src/keys/edge-cache";
import type { EdgeView } from "../../src/keys/edge-record";

/** What the gateway does: the cached view while fresh (or vouched for by the feed), else a KV read. */
export async function readEdgeState(kv: KVNamespace, keyId: string, ttlMs: number, nowMs: number): Promise<EdgeView | null> {
  const cached = cachedEdgeView(keyId, nowMs);
  return cached !== undefined ? cached : fetchEdgeView(kv, keyId, ttlMs, nowMs);
}

/** The real KV binding, counting reads. */
export function countingKv(): { kv: KVNamespace; reads: () => number } {
  let reads = 0;
  const kv = new Proxy(env.EDGE_RECORDS, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return (...args: Parameters<KVNamespace["get"]>) => {
          reads++;
          return target.get(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv, reads: () => reads };
}
