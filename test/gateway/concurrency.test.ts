/**
 * Requests served concurrently by one isolate each run in their own I/O context, and workerd
 * refuses I/O that one request does on behalf of another. Isolate caches must therefore hold
 * resolved values, never a promise another request created. These tests dispatch real,
 * separate requests into the worker (the `exports.default` service), all at once.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-cache";
import { BASE, createKey, freshTenant } from "../helpers/worker";

async function burst(path: string, token: string, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const res = await exports.default.fetch(new Request(`${BASE}${path}`, { headers: { authorization: `Bearer ${token}` } }));
      await res.arrayBuffer();
      return res.status;
    }),
  );
}

describe("concurrent requests in one isolate", () => {
  it("a burst of first requests for a new key all reach the origin", async () => {
    for (let round = 0; round < 5; round++) {
      const key = await createKey(freshTenant());
      clearEdgeCache();
      const statuses = await burst(`/echo/concurrency-${round}`, key.api_key, 40);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    }
  });

  it("a burst of requests for a revoked key are all refused cleanly", async () => {
    const key = await createKey(freshTenant());
    const { env } = await import("cloudflare:workers");
    await env.EDGE_RECORDS.put(`key-state:${key.id}`, JSON.stringify({ state: "revoked", at: 1 }));
    clearEdgeCache();
    const statuses = await burst("/echo/concurrency-revoked", key.api_key, 40);
    expect(statuses.filter((s) => s !== 401)).toEqual([]);
  });
});
