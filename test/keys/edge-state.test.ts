import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cachedEdgeState, clearEdgeStateCache, type EdgeState, fetchEdgeState, writeEdgeState } from "../../src/keys/edge-state";

/** What the gateway does: the cached state while fresh, else a KV read. */
async function readEdgeState(kv: KVNamespace, keyId: string, ttlMs: number, nowMs: number): Promise<EdgeState | null> {
  const cached = cachedEdgeState(keyId, nowMs);
  return cached !== undefined ? cached : fetchEdgeState(kv, keyId, ttlMs, nowMs);
}

/** The real KV binding, counting reads. */
function countingKv(): { kv: KVNamespace; reads: () => number } {
  let reads = 0;
  const kv = new Proxy(env.REVOCATIONS, {
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

describe("edge state cache", () => {
  it("never hands one request's in-flight read to another: concurrent misses read KV each", async () => {
    clearEdgeStateCache();
    const { kv, reads } = countingKv();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Date.now();
    const results = await Promise.all([readEdgeState(kv, keyId, 10_000, now), readEdgeState(kv, keyId, 10_000, now)]);
    expect(results).toEqual([null, null]);
    expect(reads()).toBe(2);
    // Once resolved, the value is cached for the TTL.
    await readEdgeState(kv, keyId, 10_000, now + 5_000);
    expect(reads()).toBe(2);
    await readEdgeState(kv, keyId, 10_000, now + 10_001);
    expect(reads()).toBe(3);
  });

  it("a revoke written by this isolate beats a KV read that was already in flight", async () => {
    clearEdgeStateCache();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Date.now();
    const inFlight = readEdgeState(env.REVOCATIONS, keyId, 10_000, now);
    await writeEdgeState(env.REVOCATIONS, keyId, { state: "revoked", at: 1 }, null, Math.floor(now / 1000));
    await inFlight;
    expect(await readEdgeState(env.REVOCATIONS, keyId, 10_000, now)).toEqual({ state: "revoked", at: 1 });
  });
});
