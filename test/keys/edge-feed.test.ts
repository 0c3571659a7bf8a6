/**
 * The edge change feed: D1 triggers record every change to what the edge must know about a key, and
 * each isolate's poll applies them over its snapshot, so the snapshot is not re-read from KV and a
 * change made in D1 reaches the isolate without KV. Real D1 and KV throughout; D1 fails only in the fault test.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { applyFeedChange, CLOCK_SKEW_SECONDS, clearEdgeCache, learnEdgeRecord } from "../../src/keys/edge-cache";
import { edgeFeedPollIfDue, edgeFeedStats } from "../../src/keys/edge-feed";
import { MANIFEST_KEY, type Manifest } from "../../src/keys/edge-record";
import { feedTrust } from "../../src/keys/feed-trust";
import { usageConfig } from "../../src/usage/config";
import { pruneUsage } from "../../src/usage/retention";
import { buildSnapshot, countingKv, readEdgeState } from "../helpers/edge";
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

async function manifestAsOf(): Promise<number> {
  return (await env.EDGE_RECORDS.get<Manifest>(MANIFEST_KEY, "json"))?.asOf ?? Number.NaN;
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
  it("no background poll before the manifest was asked for; the first poll covers from the manifest's asOf", async () => {
    expect(edgeFeedPollIfDue(env.DB, TTL_MS, Date.now())).toBeUndefined(); // no manifest asked for yet
    await buildSnapshot();
    const { read } = countingReader();
    const t0 = Date.now();
    await read(`key-${crypto.randomUUID()}`, t0);
    expect(feedTrust.needFromS).toBe((await manifestAsOf()) - CLOCK_SKEW_SECONDS);
    expect(feedTrust.coveredFromS).toBeLessThanOrEqual(feedTrust.needFromS);
  });

  it("vouch for the snapshot while recent: no KV read until the trust lapses, then the manifest is read again", async () => {
    await buildSnapshot();
    const { read, reads } = countingReader();
    const keyId = `key-${crypto.randomUUID()}`;
    const t0 = Date.now();
    expect(await read(keyId, t0)).toBeNull();
    const first = reads();
    expect(first).toBeGreaterThanOrEqual(1); // the manifest, and the key's shard if it has records
    await poll(t0 + TTL_MS / 2);
    expect(await read(keyId, t0 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(first);
    // No poll since: the feed's trust lapses a TTL after the last poll began, and the manifest is read again.
    expect(await read(keyId, t0 + TTL_MS / 2 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(first + 1);
  });

  it("a poll is due every half TTL, one at a time", async () => {
    await buildSnapshot();
    const t0 = Date.now();
    await countingReader().read(`key-${crypto.randomUUID()}`, t0); // the manifest and the first poll
    const next = edgeFeedPollIfDue(env.DB, TTL_MS, t0 + TTL_MS / 2);
    expect(next).toBeDefined();
    expect(edgeFeedPollIfDue(env.DB, TTL_MS, t0 + TTL_MS / 2 + 1)).toBeUndefined(); // one in flight
    await next;
    expect(edgeFeedPollIfDue(env.DB, TTL_MS, t0 + TTL_MS - 1)).toBeUndefined();
    await poll(t0 + TTL_MS);
  });

  it("a revocation made in D1 alone reaches a key at the next poll, without KV", async () => {
    const key = await createKey(freshTenant());
    await buildSnapshot();
    const { read, reads } = countingReader();
    const t0 = Date.now();
    expect(await read(key.id, t0)).toBeNull();
    const before = reads();
    await revokeInD1Only(key.id);
    expect(await read(key.id, t0 + 1)).toBeNull(); // not yet polled
    await poll(t0 + TTL_MS / 2);
    expect((await read(key.id, t0 + TTL_MS / 2))?.refused?.state).toBe("revoked");
    expect(reads()).toBe(before);
  });

  it("start over when rows the isolate never read were pruned", async () => {
    const tenant = freshTenant();
    const first = await createKey(tenant, { allowed_ips: ["203.0.113.0/24"] });
    await buildSnapshot();
    const { read } = countingReader();
    const t0 = Date.now();
    await read(first.id, t0);
    // Another change, then the retention prunes it before this isolate polls (keeping the newest row).
    await revokeInD1Only(first.id);
    const later = await createKey(tenant);
    await revokeInD1Only(later.id);
    await env.DB.prepare("DELETE FROM edge_changes WHERE seq < (SELECT max(seq) FROM edge_changes)").run();
    const resets = edgeFeedStats.resets;
    await poll(t0 + TTL_MS / 2);
    expect(edgeFeedStats.resets).toBe(resets + 1);
    expect((await read(later.id, t0 + TTL_MS / 2))?.refused?.state).toBe("revoked");
  });

  it("a revocation the feed taught is kept when a later snapshot does not know it (KV stale or lost)", async () => {
    const key = await createKey(freshTenant());
    await buildSnapshot();
    const t0 = Date.now();
    const { read } = countingReader();
    await read(key.id, t0);
    await revokeInD1Only(key.id);
    await poll(t0 + TTL_MS / 2);
    // Long after, the feed's trust lapsed (D1 down) and the manifest is read again: it predates the revocation.
    const later = t0 + 30 * 60_000;
    expect((await readEdgeState(env.EDGE_RECORDS, key.id, TTL_MS, later, unavailableD1(env.DB)))?.refused?.state).toBe("revoked");
  });

  it("with KV unreadable too, a revocation the feed taught still refuses the key", async () => {
    const key = await createKey(freshTenant());
    await buildSnapshot();
    const t0 = Date.now();
    await countingReader().read(key.id, t0);
    await revokeInD1Only(key.id);
    await poll(t0 + TTL_MS / 2);
    const down = withFailures(env.EDGE_RECORDS, { methods: ["get"] });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect((await readEdgeState(down, key.id, TTL_MS, t0 + 30 * 60_000, unavailableD1(env.DB)))?.refused?.state).toBe("revoked");
    } finally {
      errors.mockRestore();
    }
  });

  it("a poll that began before a local write does not undo it", async () => {
    await buildSnapshot();
    const keyId = `key-${crypto.randomUUID()}`;
    const t0 = Date.now();
    await countingReader().read(keyId, t0);
    learnEdgeRecord(keyId, { allowed_ips: ["203.0.113.7"] }, t0);
    applyFeedChange(keyId, null, t0 - 1); // what D1 said just before the write committed
    expect((await countingReader().read(keyId, t0))?.allowlist).toHaveLength(1);
  });

  it("D1 down: the poll fails, is counted and retried after a second, and the snapshot falls back to its TTL and KV", async () => {
    await buildSnapshot();
    const keyId = `key-${crypto.randomUUID()}`;
    const { read, reads } = countingReader();
    const t0 = Date.now();
    expect(await read(keyId, t0)).toBeNull();
    const before = reads();
    const failures = edgeFeedStats.failures;
    const down = unavailableD1(env.DB);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await poll(t0 + TTL_MS / 2, down);
      expect(edgeFeedStats.failures).toBe(failures + 1);
      expect(edgeFeedPollIfDue(down, TTL_MS, t0 + TTL_MS / 2 + 999)).toBeUndefined();
      await poll(t0 + TTL_MS / 2 + 1_000, down);
    } finally {
      errors.mockRestore();
    }
    // Trust lapsed at t0 + TTL: the manifest is read again once its own TTL is over.
    expect(await read(keyId, t0 + TTL_MS + 1)).toBeNull();
    expect(reads()).toBe(before + 1);
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
