/**
 * Requests served concurrently by one isolate each run in their own I/O context, and workerd
 * refuses I/O that one request does on behalf of another. Isolate caches must therefore hold
 * resolved values, never a promise another request created. These tests dispatch real,
 * separate requests into the worker (the `exports.default` service), all at once.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-cache";
import { edgeFeedStats } from "../../src/keys/edge-feed";
import { buildSnapshot } from "../helpers/edge";
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

  it("a burst of first requests of a fresh isolate for a key revoked in D1 are all refused cleanly", async () => {
    const key = await createKey(freshTenant());
    const { env } = await import("cloudflare:workers");
    const now = Math.floor(Date.now() / 1000);
    await buildSnapshot(); // before the revocation: only the change feed knows it
    await env.DB.prepare("UPDATE api_keys SET revoked = 1, revoked_at = ?, updated_at = ? WHERE id = ?").bind(now, now, key.id).run();
    clearEdgeCache();
    const queries = edgeFeedStats.queries;
    const statuses = await burst("/echo/concurrency-revoked", key.api_key, 40);
    expect(statuses.filter((s) => s !== 401)).toEqual([]);
    // One request made the first poll; the others waited for it rather than each asking D1.
    expect(edgeFeedStats.queries - queries).toBeLessThanOrEqual(2);
  });
});
