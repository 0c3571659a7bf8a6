/**
 * The edge-record snapshot: the reconciler builds it from D1 into KV (256 shards and a manifest),
 * an isolate answers for keys it never saw without a read per key, and the change feed covers what
 * the snapshot does not know yet. Real D1 and KV throughout (behind production limits).
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { clearEdgeCache, edgeReadStats, learnEdgeRecord } from "../../src/keys/edge-cache";
import { MANIFEST_KEY, type Manifest, SHARD_PREFIXES, type ShardValue, shardKey, shardOf } from "../../src/keys/edge-record";
import { REBUILD_UNCHANGED_PER_RUN, RECONCILE_BUDGET, reconcileEdgeRecords } from "../../src/keys/reconcile";
import { KV_MAX_VALUE_BYTES } from "../../src/lib/platform-limits";
import { buildSnapshot, countingKv, keyIdInShard, readEdgeState } from "../helpers/edge";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const TTL_MS = 10_000;
const now = () => Math.floor(Date.now() / 1000);

async function manifest(): Promise<Manifest> {
  const m = await env.EDGE_RECORDS.get<Manifest>(MANIFEST_KEY, "json");
  if (m === null) throw new Error("no manifest");
  return m;
}

async function shardOfKey(keyId: string): Promise<ShardValue | null> {
  const prefix = shardOf(keyId) as string;
  const version = (await manifest()).shards[prefix]?.[0];
  return version ? env.EDGE_RECORDS.get<ShardValue>(shardKey(prefix, version), "json") : null;
}

async function revoke(tenant: string, keyId: string): Promise<void> {
  const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/${keyId}/revoke`, { token: await userToken({ tenants: [tenant] }) });
  expect(res.status).toBe(200);
}

/** Empties the change feed, as the day's retention would (it keeps the newest row): only the snapshot knows older changes. */
async function pruneFeed(): Promise<void> {
  const other = `key-${crypto.randomUUID()}`;
  await env.DB.prepare("INSERT INTO edge_changes (key_id, at) VALUES (?, ?)")
    .bind(other, Math.floor(Date.now() / 1000))
    .run();
  await env.DB.prepare("DELETE FROM edge_changes WHERE seq < (SELECT max(seq) FROM edge_changes)").run();
}

beforeEach(() => clearEdgeCache());

describe("the reconciler builds the snapshot from D1", () => {
  it("every shard in the manifest; a key's record in its shard, revoked keys kept small; keys with no record nowhere", async () => {
    const tenant = freshTenant();
    const revoked = await createKey(tenant, { rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }] });
    const limited = await createKey(tenant, { rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }] });
    const plain = await createKey(tenant);
    await revoke(tenant, revoked.id);
    await buildSnapshot();
    const m = await manifest();
    expect(Object.keys(m.shards).sort()).toEqual([...SHARD_PREFIXES]);
    expect((await shardOfKey(revoked.id))?.records[revoked.id]).toEqual({ state: "revoked", at: expect.any(Number) });
    expect((await shardOfKey(limited.id))?.records[limited.id]).toEqual({ rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }] });
    expect((await shardOfKey(plain.id))?.records[plain.id]).toBeUndefined();
  });

  it("a revoked key's record goes once its own exp has passed; a key that never expires keeps its record", async () => {
    const tenant = freshTenant();
    const expiring = await createKey(tenant, { expires_in_days: 3 });
    const forever = await createKey(tenant, { expires_in_days: 0 });
    for (const k of [expiring, forever]) await revoke(tenant, k.id);
    await buildSnapshot();
    expect((await shardOfKey(expiring.id))?.records[expiring.id]).toBeDefined();
    // Four days later: every shard is rebuilt within 256 / REBUILD_UNCHANGED_PER_RUN runs.
    const later = now() + 4 * 86_400;
    for (let run = 0; run <= SHARD_PREFIXES.length / REBUILD_UNCHANGED_PER_RUN; run++) {
      await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, later);
    }
    expect((await shardOfKey(expiring.id))?.records[expiring.id]).toBeUndefined();
    expect((await shardOfKey(forever.id))?.records[forever.id]).toEqual({ state: "revoked", at: expect.any(Number) });
  });

  it("a run rebuilds the shards that changed (and a few of the oldest), names a new version, deletes the old one later", async () => {
    await buildSnapshot();
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await revoke(tenant, key.id);
    const before = (await manifest()).shards[shardOf(key.id) as string]?.[0];
    const report = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now());
    expect(report.rebuilt).toBeLessThanOrEqual(1 + REBUILD_UNCHANGED_PER_RUN);
    expect(report.pending).toBe(0);
    const after = (await manifest()).shards[shardOf(key.id) as string]?.[0];
    expect(after).not.toBe(before);
    expect((await shardOfKey(key.id))?.records[key.id]).toMatchObject({ state: "revoked" });
    if (before) {
      const oldName = shardKey(shardOf(key.id) as string, before);
      expect(await env.EDGE_RECORDS.get(oldName)).not.toBeNull(); // isolates with the old manifest may read it
      await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now() + 700);
      expect(await env.EDGE_RECORDS.get(oldName)).toBeNull();
    }
  });

  it("a first build larger than one run's budget resumes from its cursor; no manifest names a half-built snapshot", async () => {
    await env.DB.prepare("DELETE FROM cron_cursors WHERE name = 'edge-snapshot'").run();
    await env.EDGE_RECORDS.delete(MANIFEST_KEY);
    const budget = { ...RECONCILE_BUDGET, d1Queries: 100 };
    const first = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now(), budget);
    expect(first.passCompleted).toBe(false);
    expect(first.d1Queries).toBeLessThanOrEqual(100);
    expect(await env.EDGE_RECORDS.get(MANIFEST_KEY)).toBeNull();
    let runs = 1;
    for (; runs < 10; runs++) if ((await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now(), budget)).passCompleted) break;
    expect(runs).toBeGreaterThan(1);
    expect(Object.keys((await manifest()).shards)).toHaveLength(SHARD_PREFIXES.length);
  });

  it("deletes the per-key KV entries of the layout before the snapshot, a page per run", async () => {
    const name = `key-state:key-${crypto.randomUUID()}`;
    await env.EDGE_RECORDS.put(name, JSON.stringify({ state: "revoked", at: 1 }));
    await buildSnapshot();
    const report = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now());
    expect(report.kvOps).toBeLessThanOrEqual(RECONCILE_BUDGET.kvOps);
    expect(await env.EDGE_RECORDS.get(name)).toBeNull();
  });

  it("sizes: a shard of 4,000 records (1,000,000 keys, 5 % revoked, is about 200 a shard) stays far below KV's value limit", async () => {
    const records: ShardValue["records"] = {};
    for (let i = 0; i < 4_000; i++) records[keyIdInShard("ab")] = { state: "revoked", at: 1_795_557_600 };
    const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, prefix: "ab", records })).length;
    expect(bytes / 4_000).toBeLessThan(80);
    expect(bytes).toBeLessThan(KV_MAX_VALUE_BYTES / 50);
  });
});

describe("an isolate reads the snapshot, not a record per key", () => {
  it("keys it never saw: one manifest read, then one read per shard with records, none per key", async () => {
    await buildSnapshot();
    const { kv, reads, keys } = countingKv();
    const t0 = Date.now();
    const m = await manifest();
    const full = SHARD_PREFIXES.find((p) => m.shards[p]?.[0] !== null) as string;
    const empty = SHARD_PREFIXES.find((p) => m.shards[p]?.[0] === null);
    for (let i = 0; i < 20; i++) expect(await readEdgeState(kv, keyIdInShard(full), TTL_MS, t0)).toBeNull();
    expect(keys).toEqual([MANIFEST_KEY, shardKey(full, m.shards[full]?.[0] as string)]);
    if (empty !== undefined) {
      for (let i = 0; i < 20; i++) expect(await readEdgeState(kv, keyIdInShard(empty), TTL_MS, t0)).toBeNull();
      expect(reads()).toBe(2); // a shard with no record is never read
    }
  });

  it("revoke, then a fresh isolate, then a first request with the key: refused (the feed's first poll, before the snapshot knows)", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await buildSnapshot();
    await revoke(tenant, key.id);
    clearEdgeCache(); // a new isolate
    const body = await expectError(await call("GET", "/api/v1/resources", { token: key.api_key }), 401, "invalid_token");
    expect(body.error_description).toBe("API key has been revoked");
  });

  it("revoke, rebuild, prune the feed, then a fresh isolate: refused from the snapshot alone", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await revoke(tenant, key.id);
    await buildSnapshot();
    await pruneFeed();
    clearEdgeCache();
    await expectError(await call("GET", "/api/v1/resources", { token: key.api_key }), 401, "invalid_token");
  });

  it("a revocation learned locally is never forgotten, whatever a later snapshot says", async () => {
    const keyId = keyIdInShard("3c");
    learnEdgeRecord(keyId, { state: "revoked", at: 1 }, Date.now());
    await buildSnapshot(); // D1 has no such key: the snapshot has no record
    const { kv } = countingKv();
    const later = Date.now() + 30 * 60_000; // the feed's trust and every TTL are long over
    expect((await readEdgeState(kv, keyId, TTL_MS, later))?.refused).toEqual({ state: "revoked", at: 1 });
  });

  it("steady state: a key's first request costs no KV read once the isolate has its shard", async () => {
    const tenant = freshTenant();
    const keys = [await createKey(tenant), await createKey(tenant), await createKey(tenant)];
    await buildSnapshot();
    for (const k of keys) expect((await call("GET", "/api/v1/resources", { token: k.api_key })).status).toBe(200);
    const reads = edgeReadStats.manifestReads + edgeReadStats.shardReads;
    const more = [await createKey(tenant), await createKey(tenant)];
    for (const k of more) expect((await call("GET", "/api/v1/resources", { token: k.api_key })).status).toBe(200);
    // New keys land in shards the isolate may not have yet (at most one read each), never a read per request after.
    const afterFirst = edgeReadStats.manifestReads + edgeReadStats.shardReads;
    expect(afterFirst - reads).toBeLessThanOrEqual(more.length);
    for (const k of [...keys, ...more]) expect((await call("GET", "/api/v1/resources", { token: k.api_key })).status).toBe(200);
    expect(edgeReadStats.manifestReads + edgeReadStats.shardReads).toBe(afterFirst);
  });
});
