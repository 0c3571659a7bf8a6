/**
 * The edge change feed: D1 triggers record every change to what the edge must know about a key, and
 * each isolate's poll applies them to its cache, so warm keys are not re-read from KV and a change
 * made in D1 reaches the isolate without KV. Real D1 and KV throughout; D1 fails only in the fault test.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { edgeFeedPollIfDue, edgeFeedStats } from "../../src/keys/edge-feed";
import { applyFeedChange, clearEdgeCache, KV_STALENESS_MS, writeEdgeRecord } from "../../src/keys/edge-record";
import { reconcileEdgeRecords } from "../../src/keys/reconcile";
import { cacheSizes } from "../../src/lib/bounded-map";
import { usageConfig } from "../../src/usage/config";
import { pruneUsage } from "../../src/usage/retention";
import { countingKv, readEdgeState } from "../helpers/edge";
import { unavailableD1, withFailures } from "../helpers/faults";
import { call, createKey, freshTenant, userToken } from "../helpers/worker";

const TTL_MS = 10_000;

/** Reads edge records as the gateway does, with TTL_MS, counting KV reads. */
function countingReader() {
  const { kv, reads } = countingKv();
  return { read: (keyId: string, nowMs: number) => readEdgeState(kv, keyId, TTL_MS, nowMs), reads };
}

async function poll(nowMs: number, d1: D1Database = env.DB): Promise<void> {
  const running = edgeFeedPollIfDue(d1, TTL_MS, nowMs);
  expect(running, "a poll is due").toBeDefined();
  await running;
}

async function changesOf(keyId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM edge_changes WHERE key_id = ?").bind(keyId).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Revokes a key in D1 alone, as if its KV write had not propagated (or failed). */
async function revokeInD1Only(keyId: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await env.DB.prepare("UPDATE api_keys SET revoked = 1, revoked_at = ?, updated_at = ? WHERE id = ?").bind(now, now, keyId).run();
}

beforeEach(() => clearEdgeCache());

describe("edge change feed: D1 triggers", () => {
  it("record creations with limits, revocations and limit changes, and nothing else", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const plain = await createKey(tenant);
    expect(await changesOf(plain.id)).toBe(0);
    const limited = await createKey(tenant, { rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }] });
    expect(await changesOf(limited.id)).toBe(1);

    // A name change and a last_used write are not edge changes.
    const renamed = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${plain.id}`, { token, body: { name: "renamed" } });
    expect(renamed.status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET last_used = 1 WHERE id = ?").bind(plain.id).run();
    expect(await changesOf(plain.id)).toBe(0);

    const patched = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${plain.id}`, {
      token,
      body: { allowed_ips: ["203.0.113.0/24"] },
    });
    expect(patched.status).toBe(200);
    expect(await changesOf(plain.id)).toBe(1);
    const cleared = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${plain.id}`, { token, body: { allowed_ips: null } });
    expect(cleared.status).toBe(200);
    expect(await changesOf(plain.id)).toBe(2);
    const revoked = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${limited.id}/revoke`, { token });
    expect(revoked.status).toBe(200);
    expect(await changesOf(limited.id)).toBe(2);

    // Rotation: the old key's cut-off, and the replacement, which inherits the allowlist-free, limit-free state.
    const rotated = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${plain.id}/rotate`, { token, body: {} });
    expect(rotated.status).toBe(201);
    const replacement = ((await rotated.json()) as { id: string }).id;
    expect(await changesOf(plain.id)).toBe(3);
    expect(await changesOf(replacement)).toBe(0);
  });
});

describe("edge change feed: polls", () => {
  it("vouch for cached records while they are recent: a warm key is not re-read from KV", async () => {
    const key = await createKey(freshTenant());
    const { read, reads } = countingReader();
    const t0 = Date.now();
    await poll(t0);
    expect(await read(key.id, t0)).toBeNull();
    expect(reads()).toBe(1);
    // Past the entry's own TTL, the feed (polled every half TTL) still vouches for it.
    await poll(t0 + TTL_MS / 2);
    expect(await read(key.id, t0 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(1);
    // No poll since: the feed's trust lapses a TTL after the last poll began, and KV is read again.
    expect(await read(key.id, t0 + TTL_MS / 2 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(2);
  });

  it("a poll is due every half TTL, one at a time", async () => {
    const t0 = Date.now();
    const first = edgeFeedPollIfDue(env.DB, TTL_MS, t0);
    expect(first).toBeDefined();
    expect(edgeFeedPollIfDue(env.DB, TTL_MS, t0 + 1)).toBeUndefined(); // one in flight
    await first;
    expect(edgeFeedPollIfDue(env.DB, TTL_MS, t0 + TTL_MS / 2 - 1)).toBeUndefined();
    await poll(t0 + TTL_MS / 2);
  });

  it("a revocation made in D1 alone reaches a cached key at the next poll, without KV", async () => {
    const key = await createKey(freshTenant());
    const { read, reads } = countingReader();
    const t0 = Date.now();
    await poll(t0);
    expect(await read(key.id, t0)).toBeNull();
    await revokeInD1Only(key.id);
    expect(await read(key.id, t0 + 1)).toBeNull(); // not yet polled
    await poll(t0 + TTL_MS / 2);
    expect((await read(key.id, t0 + TTL_MS / 2))?.refused?.state).toBe("revoked");
    expect(reads()).toBe(1);
  });

  it("a change the feed applied wins over a stale KV read of a key this isolate had not cached", async () => {
    const key = await createKey(freshTenant());
    const t0 = Date.now();
    await poll(t0);
    await revokeInD1Only(key.id); // KV still has no record for the key
    await poll(t0 + TTL_MS / 2);
    const { read, reads } = countingReader();
    expect((await read(key.id, t0 + TTL_MS / 2 + 1))?.refused?.state).toBe("revoked");
    expect(reads()).toBe(0);
  });

  it("a first poll replays the changes KV may not have caught up with", async () => {
    const key = await createKey(freshTenant());
    await revokeInD1Only(key.id);
    clearEdgeCache(); // a new isolate
    const t0 = Date.now();
    await poll(t0);
    const { read } = countingReader();
    expect((await read(key.id, t0))?.refused?.state).toBe("revoked");
  });

  it("a KV-only edit of a cached key is not seen while the feed vouches for the entry (D1 is the truth)", async () => {
    const key = await createKey(freshTenant());
    const { read } = countingReader();
    const t0 = Date.now();
    await poll(t0);
    expect(await read(key.id, t0)).toBeNull();
    await env.EDGE_RECORDS.put(`key-state:${key.id}`, JSON.stringify({ state: "revoked", at: 1 }));
    await poll(t0 + TTL_MS / 2);
    expect(await read(key.id, t0 + TTL_MS + 1)).toBeNull();
    await env.EDGE_RECORDS.delete(`key-state:${key.id}`);
  });

  it("start over when rows the isolate never read were pruned: what it cached before is no longer vouched for", async () => {
    const tenant = freshTenant();
    const first = await createKey(tenant, { allowed_ips: ["203.0.113.0/24"] });
    const cached = await createKey(tenant);
    const { read, reads } = countingReader();
    const t0 = Date.now();
    await poll(t0);
    expect(await read(cached.id, t0)).toBeNull();
    // Another change, then the retention prunes it before this isolate polls (keeping the newest row).
    await revokeInD1Only(first.id);
    const later = await createKey(tenant);
    await revokeInD1Only(later.id);
    await env.DB.prepare("DELETE FROM edge_changes WHERE seq < (SELECT max(seq) FROM edge_changes)").run();
    const resets = edgeFeedStats.resets;
    await poll(t0 + TTL_MS / 2);
    expect(edgeFeedStats.resets).toBe(resets + 1);
    expect((await read(later.id, t0 + TTL_MS / 2))?.refused?.state).toBe("revoked");
    // Read before the reset: past its own TTL it is read from KV again, though the feed is current.
    expect(reads()).toBe(1);
    expect(await read(cached.id, t0 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(2);
  });

  it("a revocation the feed taught is kept after KV could have caught up, should KV still be wrong", async () => {
    const key = await createKey(freshTenant());
    const t0 = Date.now();
    await poll(t0);
    await revokeInD1Only(key.id); // and KV never hears of it (a failed write)
    await poll(t0 + TTL_MS / 2);
    const { read, reads } = countingReader();
    const later = t0 + TTL_MS / 2 + KV_STALENESS_MS + 1;
    await poll(later);
    expect((await read(key.id, later))?.refused?.state).toBe("revoked");
    expect(reads()).toBe(1); // KV was asked, and its stale answer did not win
  });

  it("with KV unreadable too, a revocation the feed taught still refuses the key", async () => {
    const key = await createKey(freshTenant());
    const t0 = Date.now();
    await poll(t0);
    await revokeInD1Only(key.id);
    await poll(t0 + TTL_MS / 2);
    const down = withFailures(env.EDGE_RECORDS, { methods: ["get"] });
    const later = t0 + TTL_MS / 2 + KV_STALENESS_MS + 1;
    expect((await readEdgeState(down, key.id, TTL_MS, later))?.refused?.state).toBe("revoked");
  });

  it("a poll that began before a local write does not undo it", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    const t0 = Date.now();
    await writeEdgeRecord(env.EDGE_RECORDS, keyId, { allowed_ips: ["203.0.113.7"] }, null, Math.floor(t0 / 1000));
    applyFeedChange(keyId, null, t0 - 1); // what D1 said just before the write committed
    const { read } = countingReader();
    expect((await read(keyId, t0))?.allowlist).toHaveLength(1);
    await env.EDGE_RECORDS.delete(`key-state:${keyId}`);
  });

  it("the reconciler's repairs go through the feed, so isolates that cached the wrong record re-learn it", async () => {
    const key = await createKey(freshTenant(), { allowed_ips: ["203.0.113.0/24"] });
    await env.EDGE_RECORDS.delete(`key-state:${key.id}`); // a lost KV write
    const before = await changesOf(key.id);
    const report = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, Math.floor(Date.now() / 1000));
    expect(report.repaired).toBeGreaterThanOrEqual(1);
    expect(await changesOf(key.id)).toBe(before + 1);
  });

  it("changes learned from D1 are kept only while a KV read could predate them", async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const first = `key-${crypto.randomUUID()}`;
    await writeEdgeRecord(env.EDGE_RECORDS, first, { allowed_ips: ["203.0.113.7"] }, null, t0);
    expect(cacheSizes()["edge-record-changes"]?.size).toBe(1);
    await writeEdgeRecord(env.EDGE_RECORDS, `key-${crypto.randomUUID()}`, null, null, t0 + KV_STALENESS_MS / 1000 + 1);
    expect(cacheSizes()["edge-record-changes"]?.size).toBe(1);
    await env.EDGE_RECORDS.delete(`key-state:${first}`);
  });

  it("D1 down: the poll fails, is counted and retried after a second, and cached records fall back to their TTL and KV", async () => {
    const key = await createKey(freshTenant());
    const { read, reads } = countingReader();
    const t0 = Date.now();
    await poll(t0);
    expect(await read(key.id, t0)).toBeNull();
    const failures = edgeFeedStats.failures;
    const down = unavailableD1(env.DB);
    await poll(t0 + TTL_MS / 2, down);
    expect(edgeFeedStats.failures).toBe(failures + 1);
    expect(edgeFeedPollIfDue(down, TTL_MS, t0 + TTL_MS / 2 + 999)).toBeUndefined();
    await poll(t0 + TTL_MS / 2 + 1_000, down);
    // Trust lapsed at t0 + TTL: the entry is read from KV once its own TTL is over.
    expect(await read(key.id, t0 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(2);
  });
});

describe("edge change feed: retention", () => {
  it("retention prunes rows older than a day but keeps the newest, so a poller's position survives", async () => {
    const day = 86_400;
    const now = Math.floor(Date.now() / 1000);
    await env.DB.prepare("DELETE FROM edge_changes").run();
    for (const at of [now - 3 * day, now - 2 * day]) {
      await env.DB.prepare("INSERT INTO edge_changes (key_id, at) VALUES (?, ?)").bind(`key-${crypto.randomUUID()}`, at).run();
    }
    const run = async () => {
      await pruneUsage(env.DB, usageConfig(env as unknown as Env), now);
      return (await env.DB.prepare("SELECT at FROM edge_changes ORDER BY seq").all<{ at: number }>()).results.map((r) => r.at);
    };
    expect(await run()).toEqual([now - 2 * day]);
    await env.DB.prepare("INSERT INTO edge_changes (key_id, at) VALUES (?, ?)").bind(`key-${crypto.randomUUID()}`, now).run();
    expect(await run()).toEqual([now]);
  });
});
